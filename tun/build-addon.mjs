// Builds tun/build/Release/tun.node with node-gyp. Run by `npm install` / `npm ci` (the package's install
// script), by `npm run build:tun`, or directly with `node tun/build-addon.mjs`. node-gyp is npm's own (the one
// npm names in npm_config_node_gyp, else the one bundled with npm beside this node). Headers come from npm's
// `nodedir` setting; when that is unset and they sit beside this node binary (<prefix>/include/node, as with
// distribution packages and official builds) they are used instead of a download, so an offline machine
// builds too. Non-Linux platforms skip the build: TUN/TAP ports are Linux only.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

if (process.platform !== 'linux') {
  console.log(`tun: skipping the TUN/TAP addon build (Linux only, this is ${process.platform})`);
  process.exit(0);
}

const prefix = resolve(dirname(process.execPath), '..');
const bundled = join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const gyp = process.env.npm_config_node_gyp || (existsSync(bundled) ? bundled : undefined);
const [cmd, pre] = gyp ? [process.execPath, [gyp]] : ['node-gyp', []];
const args = [...pre, 'rebuild', '-C', here];
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h')))
  args.push(`--nodedir=${prefix}`);

const r = spawnSync(cmd, args, { stdio: 'inherit' });
if (r.error || r.status !== 0) {
  const why = r.error ? r.error.message : `node-gyp exited with status ${r.status}`;
  console.error(`tun: building the TUN/TAP addon failed (${why}); it needs g++, make, python3 and Node's headers`);
  process.exit(1);
}
