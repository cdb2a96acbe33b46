/**
 * The address plan through the real `egress` command (bin/egress.js in child processes, a temporary --state-dir
 * each): a refused set is one line per error and exit 1, and nothing lands on disk; deleting a pool Egresses
 * still use is allowed as in Antrea, with a warning naming them and their status saying why.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse as parseYAML } from 'yaml';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'egress.js');
const REF = join(ROOT, 'examples', 'reference', 'cluster.yaml');
let dir: string;

const egress = (args: string[], input = '') =>
  spawnSync(process.execPath, [BIN, ...args, '--state-dir', dir], { encoding: 'utf8', input, timeout: 60_000 });
const objectsJson = () => readFileSync(join(dir, 'objects.json'), 'utf8');

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'egr-cli-plan-'));
  expect(egress(['apply', '-f', REF]).status).toBe(0);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('egress apply refuses what would give an address two owners', () => {
  it('a Node with the transport IP of another (the objects.json that crashed agents): one line, exit 1', () => {
    const before = objectsJson();
    const r = egress(
      ['apply', '-f', '-'],
      'apiVersion: v1\nkind: Node\nmetadata: {name: node-d}\nstatus:\n  addresses: [{type: InternalIP, address: 198.18.0.12}]\n',
    );
    expect([r.status, r.stdout, r.stderr]).toEqual([
      1,
      '',
      'egress apply: -:5: document 1 (Node/node-d) status.addresses: InternalIP 198.18.0.12 is also the transport IP of Node node-b (nothing applied)\n',
    ]);
    expect(objectsJson()).toBe(before);
  });

  it('a static egressIP the pool already gave to egress-prod-web', () => {
    const ip = egress(['get', 'egress', 'egress-prod-web', '-o', 'json']);
    const owned = (JSON.parse(ip.stdout) as { spec: { egressIP: string } }).spec.egressIP;
    const r = egress(
      ['apply', '-f', '-'],
      `apiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata: {name: copycat}\nspec:\n  appliedTo: {podSelector: {}}\n  egressIP: ${owned}\n`,
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `egress apply: -:6: document 1 (Egress/copycat) spec.egressIP: IP ${owned} is inside ExternalIPPool egress-pool, which may allocate it to another Egress: a static egressIP must be outside every pool (or name the pool in externalIPPool) (nothing applied)\n`,
    );
  });
});

describe('egress delete of an ExternalIPPool in use', () => {
  it('is allowed (as in Antrea), warns with the Egresses and the IPs they lose, and their status says why', () => {
    const r = egress(['delete', 'externalippool', 'egress-pool']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('externalippool.crd.antrea.io "egress-pool" deleted\n');
    expect(r.stderr).toBe(
      "Warning: ExternalIPPool egress-pool is still used by Egresses egress-prod-web (198.18.0.253), egress-staging-web (198.18.0.254): they lose their egress IP (IPAllocated=False) and their Pods leave with their Node's IP until the pool exists again\n",
    );
    const e = parseYAML(egress(['get', 'egress', 'egress-prod-web', '-o', 'yaml']).stdout) as {
      spec: { egressIP?: string };
      status: { conditions: { type: string; status: string; reason: string; message: string }[] };
    };
    expect(e.spec.egressIP).toBeUndefined();
    expect(e.status.conditions.map((c) => [c.type, c.status, c.reason, c.message])).toEqual([
      [
        'IPAllocated',
        'False',
        'AllocationError',
        'Cannot allocate EgressIP from ExternalIPPool: ExternalIPPool egress-pool does not exist',
      ],
    ]);
  });

  it('a pool nobody uses goes without a warning', () => {
    expect(egress(['delete', 'egress', 'egress-prod-web', 'egress-staging-web']).status).toBe(0);
    const r = egress(['delete', 'externalippool', 'egress-pool']);
    expect([r.status, r.stderr]).toEqual([0, '']);
  });
});
