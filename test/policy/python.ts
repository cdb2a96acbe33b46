/**
 * Independent expectations from Debian's Python (`/usr/bin/python3`): `zlib.crc32` (the same CRC-32 as Go's
 * `crc32.ChecksumIEEE`), `ipaddress` for canonical IPv6 text, and a reference implementation of Antrea's ring walk and
 * scheduling pass written here from docs/semantics.md §2.2, not from our TypeScript.
 */
import { spawnSync } from 'node:child_process';

export const PYTHON = '/usr/bin/python3';

/** Run a Python program that reads JSON on stdin and prints JSON. */
export function py<T>(program: string, input: unknown): T {
  const r = spawnSync(PYTHON, ['-c', program], { input: JSON.stringify(input), encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr || r.error?.message}`);
  return JSON.parse(r.stdout) as T;
}

/** zlib.crc32 of each string's UTF-8 bytes. */
export function pyCrc32(strings: string[]): number[] {
  return py<number[]>(
    'import json,sys,zlib\nprint(json.dumps([zlib.crc32(s.encode()) for s in json.load(sys.stdin)]))',
    strings,
  );
}

/**
 * Antrea's scheduling pass, in Python. Input: nodes (alive members per pool are given explicitly), capacity per
 * Node, Egresses in oldest-first order. Output: Egress → node name or "" (no Node available).
 */
export const PY_SCHEDULER = `
import json, sys, zlib

def ring(members):
    reps = {}
    for n in sorted(members):
        for i in range(50):
            reps[zlib.crc32((str(i) + n).encode())] = n
    return sorted(reps.items())

def walk(r, key, ok):
    if not r:
        return ""
    h = zlib.crc32(key.encode())
    start = len(r)
    for i, (rh, _) in enumerate(r):
        if rh >= h:
            start = i
            break
    rejected = set()
    for rh, n in r[start:] + r[:start]:
        if n in rejected:
            continue
        if ok(n):
            return n
        rejected.add(n)
    return ""

req = json.load(sys.stdin)
out = {}
placed = {}
for e in req["egresses"]:
    members = req["pools"][e["pool"]]
    ip = e["ip"]
    def ok(n):
        ips = placed.get(n, set())
        count = len(ips) + (0 if ip in ips else 1)
        return count <= req["capacity"].get(n, req.get("defaultCapacity", 255))
    node = walk(ring(members), ip, ok)
    out[e["name"]] = node
    if node:
        placed.setdefault(node, set()).add(ip)
print(json.dumps(out))
`;

export interface PySchedInput {
  pools: Record<string, string[]>;
  capacity: Record<string, number>;
  defaultCapacity?: number;
  egresses: { name: string; ip: string; pool: string }[];
}

export function pySchedule(input: PySchedInput): Record<string, string> {
  return py<Record<string, string>>(PY_SCHEDULER, input);
}

/** The ring walk alone: first member (ascending replica hash from CRC32(key), wrapping) not in `reject`. */
export function pyRingGet(members: string[], keys: string[], reject: string[] = []): string[] {
  const program = `${PY_SCHEDULER.split('req = json.load')[0]}
req = json.load(sys.stdin)
r = ring(req["members"])
print(json.dumps([walk(r, k, lambda n: n not in req["reject"]) for k in req["keys"]]))
`;
  return py<string[]>(program, { members, keys, reject });
}
