/**
 * Run tshark (Wireshark 4.0 on this machine) on a capture file from tests and read its decode.
 *
 * - `tsharkPackets(file)`: `-T json --no-duplicate-keys`, one object per frame mapping protocol names to
 *   their fields; a protocol present twice (outer and inner IPv4 of a Geneve frame) becomes an array.
 * - `findAll(obj, 'ip.checksum.status')`: every value of a field anywhere in a frame, outer first.
 * - `tsharkVerbose(file)`: the `-V` text; `checksumVerdictLines(file)` the "checksum status" lines of it,
 *   prefixed with the frame number, for printing in test output.
 * Pass `CHECKSUM_PREFS` to make tshark verify the IPv4, UDP and TCP checksums (it does not by default).
 * Checksum status values: 0 Bad, 1 Good, 2 Unverified, 3 Not present (UDP checksum 0), 4 Illegal.
 */
import { spawnSync } from 'node:child_process';

export const TSHARK = 'tshark';
export const CHECKSUM_PREFS: readonly string[] = [
  '-o',
  'ip.check_checksum:TRUE',
  '-o',
  'udp.check_checksum:TRUE',
  '-o',
  'tcp.check_checksum:TRUE',
];
export const STATUS_BAD = '0';
export const STATUS_GOOD = '1';
export const STATUS_NOT_PRESENT = '3';

let available: boolean | undefined;

/** True when tshark runs (cached). */
export function hasTshark(): boolean {
  if (available === undefined) {
    available = spawnSync(TSHARK, ['--version'], { stdio: 'ignore', timeout: 60_000 }).status === 0;
  }
  return available;
}

function run(args: readonly string[]): string {
  const r = spawnSync(TSHARK, args, { encoding: 'utf8', timeout: 120_000, maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`tshark ${args.join(' ')} failed (status ${r.status}): ${r.stderr || r.error}`);
  return r.stdout;
}

/** A frame's `_source.layers`: protocol name → fields object (or an array of them when repeated). */
export type TsharkLayers = Record<string, unknown>;

/** Decode `file` with `-T json --no-duplicate-keys` (plus `extra`, e.g. CHECKSUM_PREFS). */
export function tsharkPackets(file: string, extra: readonly string[] = []): TsharkLayers[] {
  const out = run(['-r', file, ...extra, '-T', 'json', '--no-duplicate-keys']);
  const frames = JSON.parse(out) as { _source: { layers: TsharkLayers } }[];
  return frames.map((f) => f._source.layers);
}

/** Every value of field `key` anywhere under `obj` (depth first, document order), flattening arrays. */
export function findAll(obj: unknown, key: string): string[] {
  const out: string[] = [];
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) {
      for (const y of x) walk(y);
    } else if (x !== null && typeof x === 'object') {
      for (const [k, v] of Object.entries(x)) {
        if (k === key) {
          if (Array.isArray(v)) for (const y of v) out.push(String(y));
          else if (typeof v !== 'object') out.push(String(v));
          else walk(v);
        } else walk(v);
      }
    }
  };
  walk(obj);
  return out;
}

/** `tshark -V` text of `file`. */
export function tsharkVerbose(file: string, extra: readonly string[] = []): string {
  return run(['-r', file, ...extra, '-V']);
}

/** One-line summaries (`tshark -r file`), one per frame. */
export function tsharkSummary(file: string, extra: readonly string[] = []): string[] {
  return run(['-r', file, ...extra])
    .split('\n')
    .filter((l) => l.trim() !== '');
}

/** The "checksum status" lines of `tshark -V`, each prefixed with its frame number (`#3 ip: Good`). */
export function checksumVerdictLines(file: string, extra: readonly string[] = CHECKSUM_PREFS): string[] {
  const lines: string[] = [];
  let frame = 0;
  let proto = '';
  for (const l of tsharkVerbose(file, extra).split('\n')) {
    const f = /^Frame (\d+):/.exec(l);
    if (f) frame = Number(f[1]);
    // Protocol headings start a line (indented when quoted inside an ICMP error: marked "quoted").
    const h =
      /^(\s*)(Internet Protocol Version 4|User Datagram Protocol|Transmission Control Protocol|Internet Control Message Protocol)/.exec(
        l,
      );
    if (h) {
      const name = {
        'Internet Protocol Version 4': 'ip',
        'User Datagram Protocol': 'udp',
        'Transmission Control Protocol': 'tcp',
        'Internet Control Message Protocol': 'icmp',
      }[h[2]!]!;
      proto = h[1] ? `${name} (quoted)` : name;
    }
    const m = /\[(?:Header checksum status|Checksum Status): ([^\]]+)\]/.exec(l);
    if (m) lines.push(`#${frame} ${proto}: ${m[1]}`);
  }
  return lines;
}
