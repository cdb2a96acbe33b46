// Builds tun/build/Release/tun.node with node-gyp. Run by `npm install` / `npm ci` (the package's install
// script), by `npm run build:tun`, or directly with `node tun/build-addon.mjs`. node-gyp is npm's own (the one
// npm names in npm_config_node_gyp, else the one bundled with npm beside this node). Headers come from npm's
// `nodedir` setting; when that is unset and they sit beside this node binary (<prefix>/include/node, as with
// distribution packages and official builds) they are used instead of a download, so an offline machine
// builds too. Non-Linux platforms skip the build: TUN/TAP ports are Linux only.
//
// The io_uring backend (`egress agent --io uring`) needs liburing (Debian: liburing-dev): a tiny program is
// compiled and linked against it first, and only when that works is src/uring.cc built with it
// (EGR_HAVE_URING=1 for binding.gyp). EGR_TUN_URING=0 leaves it out on purpose.
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

/** True when a C program including liburing.h links with -luring here. */
function haveLiburing() {
  if (process.env.EGR_TUN_URING === '0') return false;
  const probe = '#include <liburing.h>\nint main(void) { struct io_uring r; return io_uring_queue_init(2, &r, 0); }\n';
  const cc = process.env.CC || 'cc';
  const p = spawnSync(cc, ['-x', 'c', '-', '-o', '/dev/null', '-luring'], {
    input: probe,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  return !p.error && p.status === 0;
}

const uring = haveLiburing();
if (!uring)
  console.log(
    process.env.EGR_TUN_URING === '0'
      ? 'tun: building without the io_uring backend (EGR_TUN_URING=0)'
      : 'tun: building without the io_uring backend (no liburing; Debian: apt-get install liburing-dev)',
  );
const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, EGR_HAVE_URING: uring ? '1' : '0' } });
if (r.error || r.status !== 0) {
  const why = r.error ? r.error.message : `node-gyp exited with status ${r.status}`;
  console.error(`tun: building the TUN/TAP addon failed (${why}); it needs g++, make, python3 and Node's headers`);
  process.exit(1);
}
