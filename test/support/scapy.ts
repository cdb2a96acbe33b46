/**
 * Run Debian's scapy (`/usr/bin/python3`, package python3-scapy) from tests to build expected packets
 * independently of the code under test. The `python3` first on PATH may lack scapy: always use PYTHON.
 *
 *     const [frame] = scapyBytes(["Ether()/IP(src='198.18.0.1', dst='198.18.0.2')/UDP(sport=1, dport=2)"]);
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PYTHON = '/usr/bin/python3';

let available: boolean | undefined;

/** True when /usr/bin/python3 can import scapy (cached). */
export function hasScapy(): boolean {
  if (available === undefined) {
    available =
      existsSync(PYTHON) &&
      spawnSync(PYTHON, ['-c', 'import scapy.all'], { stdio: 'ignore', timeout: 60_000 }).status === 0;
  }
  return available;
}

const DRIVER = `
import json, sys
from scapy.all import *
from scapy.contrib.geneve import GENEVE, GeneveOptions
req = json.load(sys.stdin)
env = {}
exec(req['preamble'], globals(), env)
out = []
for e in req['exprs']:
    out.append(bytes(eval(e, globals(), env)).hex())
print(json.dumps(out))
`;

/**
 * Evaluate each Python expression with `from scapy.all import *` (plus GENEVE/GeneveOptions) after running
 * `preamble`, and return `bytes(expr)` of each. Throws with scapy's stderr when Python fails.
 */
export function scapyBytes(exprs: readonly string[], preamble = ''): Uint8Array[] {
  const r = spawnSync(PYTHON, ['-c', DRIVER], {
    input: JSON.stringify({ exprs, preamble }),
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`scapy failed (status ${r.status}): ${r.stderr || r.error}`);
  const hex = JSON.parse(r.stdout) as string[];
  return hex.map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
}

/** Run a Python script that uses scapy and return its stdout (for generators that write files). */
export function runScapyScript(path: string, args: readonly string[] = []): string {
  const r = spawnSync(PYTHON, [path, ...args], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${path} failed (status ${r.status}): ${r.stderr || r.error}`);
  return r.stdout;
}
