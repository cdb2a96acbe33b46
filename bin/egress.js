#!/usr/bin/env node
// The `egress` command. The TypeScript sources are compiled to dist/ by `npm install` / `npm ci` (the
// package's `prepare` script) or by `npm run build`; this file only loads the compiled entry point.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  console.error(`egress: not built yet: run \`npm install\` (or \`npm run build\`) in ${root}`);
  process.exit(1);
}
// A reader that goes away (`egress get pipeline | head`) is not an error.
for (const s of [process.stdout, process.stderr])
  s.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
