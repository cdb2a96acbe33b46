/**
 * `egress supportbundle`: what a bug report needs, in one tar.gz (as `antctl supportbundle`): the store's objects,
 * Node statuses and events, each Node's compiled view, the pipeline, the agents' run files and the test bed's logs
 * of this host, and the version. Every piece is collected on its own: one that cannot be is a line of manifest.txt,
 * never a failed bundle. The cluster key is never read into it.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  openSync,
  readFileSync,
  readdirSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { STATE_DIR_OPTION, STORE_USAGE, parseCommandArgs, stringOpt } from '../args.js';
import type { Command } from '../command.js';
import { UsageError, UserError } from '../errors.js';
import type { OutputFormat } from '../formats.js';
import { listObjects } from '../listing.js';
import { toYAML } from '../output.js';
import { runDirOf, storeOf } from '../state-dir.js';
import { buildInfo, buildInfoText } from '../build-info.js';
import { tarArchive } from '../tar.js';
import type { TarEntry } from '../tar.js';
import * as policy from '../../engine/policy/index.js';

const usage = `usage: egress supportbundle [--out FILE] [--state-dir DIR | --store URL]

Collect what a bug report needs into one gzipped tar file (as antctl supportbundle), under a directory
egress-supportbundle-TIMESTAMP/:

  manifest.txt              every file inside, one line each, and each piece that could not be collected and why
  version.txt               egress version
  objects/KIND.yaml         the store's objects of each kind (egress get KIND -o yaml), with their status
  status/nodes.yaml         the Node statuses the agents wrote in the store
  events.yaml               egress get events -o yaml
  pipeline.dot, pipeline.json   egress get pipeline (and -o json)
  nodes/NODE/view.json      egress get view NODE -o json (compiled with every Node alive)
  run/NODE.json             the run files of the agents running on this host (counters; <state-dir>/run/)
  logs/FILE.log             the test bed's logs in <state-dir>/testbed/ (the last 8 MiB of each)

The cluster key (cluster.key, or the one an etcd store keeps) is never included: a collected file holding it is
dropped and named in manifest.txt. With --store etcd://..., run files and logs come from this host's
EGRESS_STATE_DIR. The file is written atomically (a temporary file, then linked into place), mode 0600; an
existing file is never overwritten.

options:
      --out FILE        the bundle (default ./egress-supportbundle-YYYYMMDDTHHMMSSZ.tar.gz)
      --state-dir DIR   state directory (see egress apply --help)
      --insecure-state-dir
                        use a state directory other users own or can write
${STORE_USAGE}
  -h, --help            this text`;

/** A log's last bytes kept in the bundle. */
const LOG_MAX = 8 << 20;

/** Run `fn` with console.log and console.error captured: a command's output as it would print it. */
async function captured(fn: () => Promise<unknown>): Promise<{ out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => void out.push(a.map(String).join(' '));
  console.error = (...a: unknown[]) => void err.push(a.map(String).join(' '));
  try {
    await fn();
  } finally {
    console.log = log;
    console.error = error;
  }
  return { out: out.length > 0 ? out.join('\n') + '\n' : '', err: err.join('; ') };
}

const oneLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0];

/** `20261203T090102Z`. */
export function bundleStamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

class Bundle {
  readonly entries: TarEntry[] = [];
  readonly lines: string[] = [];
  constructor(
    readonly root: string,
    readonly mtime: number,
  ) {}

  add(name: string, data: string | Uint8Array, note = ''): void {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    this.entries.push({ name: `${this.root}/${name}`, data: bytes, mtime: this.mtime });
    this.lines.push(`ok       ${name} (${bytes.length} bytes)${note ? ` ${note}` : ''}`);
  }

  missing(name: string, why: string): void {
    this.lines.push(`missing  ${name}: ${why}`);
  }

  /** Collect one piece; a failure is a manifest line. */
  async piece(name: string, fn: () => Promise<string | Uint8Array | null>, note = ''): Promise<void> {
    try {
      const v = await fn();
      if (v === null) this.missing(name, 'none');
      else this.add(name, v, note);
    } catch (e) {
      this.missing(name, oneLine(e));
    }
  }

  /** A command's printed output as one piece (its stderr, if any, noted in the manifest). */
  async output(name: string, fn: () => Promise<unknown>): Promise<void> {
    let err = '';
    await this.piece(name, async () => {
      const r = await captured(fn);
      err = r.err;
      return r.out;
    });
    if (err) this.lines.push(`note     ${name}: ${err}`);
  }
}

const yaml: OutputFormat = { kind: 'yaml' };
const json: OutputFormat = { kind: 'json' };

async function collect(b: Bundle, st: policy.store.Store, runDir: string | undefined, now: Date): Promise<void> {
  await b.piece('version.txt', () => Promise.resolve(buildInfoText(buildInfo()) + '\n'));
  for (const kind of policy.KINDS)
    await b.output(`objects/${kind.toLowerCase()}.yaml`, () =>
      listObjects(st, kind, [], { format: yaml, namespace: undefined }, now),
    );
  await b.piece('status/nodes.yaml', async () => toYAML(await st.readNodeStatuses()));
  await b.output('events.yaml', () => listObjects(st, 'events', [], { format: yaml, namespace: undefined }, now));
  await b.output('pipeline.dot', () => listObjects(st, 'pipeline', [], { format: { kind: 'table' } }, now));
  await b.output('pipeline.json', () => listObjects(st, 'pipeline', [], { format: json }, now));
  let nodes: string[] = [];
  try {
    nodes = [...(await st.load()).state.nodes.keys()].sort();
  } catch (e) {
    b.missing('nodes/', oneLine(e));
  }
  for (const node of nodes)
    await b.output(`nodes/${node}/view.json`, () => listObjects(st, 'view', [node], { format: json }, now));

  const keys: Buffer[] = [];
  if (st instanceof policy.store.EtcdStore) {
    // the agents of an etcd store share the key kept in etcd; a local key file (if any) is checked too
    try {
      const k = await st.readClusterKey();
      if (k) keys.push(k);
    } catch (e) {
      b.missing('cluster.key check', `could not read the store's key to check the bundle for it: ${oneLine(e)}`);
    }
  }
  if (runDir === undefined) {
    b.missing('run/', 'no usable state directory on this host');
    b.missing('logs/', 'no usable state directory on this host');
  } else {
    files(b, join(runDir, policy.store.RUN_DIR), 'run', (f) => f.endsWith('.json'), Infinity);
    files(b, join(runDir, 'testbed'), 'logs', (f) => f.endsWith('.log'), LOG_MAX);
    try {
      keys.push(readFileSync(join(runDir, policy.store.KEY_FILE)));
    } catch {
      // no local key file: nothing to look for
    }
  }
  for (const k of keys) dropKey(b, k);
}

/** Belt and braces: no file of the bundle may hold the cluster key (raw, hex or base64); one that does is dropped. */
function dropKey(b: Bundle, key: Buffer): void {
  const forms = [key, Buffer.from(key.toString('hex')), Buffer.from(key.toString('base64'))].filter(
    (k) => k.length >= 16,
  );
  for (let i = b.entries.length - 1; i >= 0; i--) {
    const e = b.entries[i]!;
    if (!forms.some((k) => Buffer.from(e.data).includes(k))) continue;
    b.entries.splice(i, 1);
    const name = e.name.slice(b.root.length + 1);
    const at = b.lines.findIndex((l) => l.startsWith(`ok       ${name} (`));
    if (at >= 0) b.lines.splice(at, 1);
    b.missing(name, 'dropped: it holds the cluster key');
  }
}

/** Copy the files of `dir` that `want` into `into/` (the last `max` bytes of each). */
function files(b: Bundle, dir: string, into: string, want: (f: string) => boolean, max: number): void {
  let names: string[];
  try {
    names = readdirSync(dir).filter(want).sort();
  } catch (e) {
    b.missing(`${into}/`, (e as NodeJS.ErrnoException).code === 'ENOENT' ? `${dir} does not exist` : oneLine(e));
    return;
  }
  if (names.length === 0) b.missing(`${into}/`, `nothing in ${dir}`);
  for (const f of names) {
    if (f === policy.store.KEY_FILE) continue;
    try {
      const data = readFileSync(join(dir, f));
      if (data.length > max)
        b.add(`${into}/${f}`, data.subarray(data.length - max), `(last ${max} of ${data.length} bytes)`);
      else b.add(`${into}/${f}`, data);
    } catch (e) {
      b.missing(`${into}/${f}`, oneLine(e));
    }
  }
}

/** Write `data` to `out` (0600) atomically and never over an existing file: a temporary file, then a hard link. */
function writeNew(out: string, data: Uint8Array): void {
  const tmp = join(dirname(out), `.${basename(out)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, out);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new UserError(`${out} exists: not overwritten`);
    throw e;
  } finally {
    unlinkSync(tmp);
  }
}

export const supportbundleCommand: Command = {
  name: 'supportbundle',
  summary: 'collect objects, statuses, events, views, counters, logs and the version into one tar.gz',
  usage,
  async run(argv) {
    const args = parseCommandArgs(argv, { out: { type: 'string' }, ...STATE_DIR_OPTION });
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    const now = new Date();
    const stamp = bundleStamp(now);
    const outFlag = stringOpt(args, 'out');
    if (outFlag === '') throw new UsageError('--out needs a file name');
    const out = resolve(outFlag ?? `egress-supportbundle-${stamp}.tar.gz`);
    if (existsSync(out)) throw new UserError(`${out} exists: not overwritten`);
    const st = storeOf(args);
    const b = new Bundle(`egress-supportbundle-${stamp}`, Math.floor(now.getTime() / 1000));
    try {
      await collect(b, st, runDirOf(args, st)?.dir, now);
    } finally {
      st.close();
    }
    const manifest = [
      `egress supportbundle of ${st.url} at ${now.toISOString()}`,
      ...b.lines,
      'never included: cluster.key',
      '',
    ].join('\n');
    b.entries.unshift({ name: `${b.root}/manifest.txt`, data: Buffer.from(manifest), mtime: b.mtime });
    writeNew(out, gzipSync(tarArchive(b.entries)));
    const missing = b.lines.filter((l) => l.startsWith('missing')).length;
    console.log(
      `${out}: ${b.entries.length} files${missing > 0 ? `, ${missing} pieces missing (see manifest.txt)` : ''}`,
    );
    return 0;
  },
};
