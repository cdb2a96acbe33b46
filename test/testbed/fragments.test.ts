/**
 * IPv4 fragments on real devices (root; docs/semantics.md §4.i): the test bed's cluster with Egresses for app=web
 * (web-a on node-a, tunnelled) and app=api (api-c on node-c, local), both hosted on node-c. Each pod sends one
 * 4000-byte UDP datagram (3972 bytes of data) to a UDP echo on an external host: the pod's kernel fragments it at
 * the pod MTU, the egress node SNATs it fragment by fragment, and the external host's kernel reassembles it; the
 * echo answers with the address and length its socket got (the egress IP, 3972) followed by the datagram, which
 * comes back fragmented at 1500 bytes, is un-NATed and cut to the pod MTU, and the pod's kernel reassembles it.
 * Run under `flock /tmp/egr-root.lock`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  egress,
  egressStatus,
  eventually,
  isRoot,
  leftovers,
  podNs,
  ROOT,
  runFile,
  sh,
  testbedLock,
} from './helpers.js';
import { PYTHON } from '../support/scapy.js';

const ECHO = '198.18.2.102';
const PORT = 9000;

function manifests(): string {
  const text = readFileSync(join(ROOT, 'test/testbed/fixtures/cluster.yaml'), 'utf8');
  return `${text.trimEnd()}
---
apiVersion: egress-engine/v1alpha1
kind: ExternalHost
metadata: { name: echo }
spec:
  address: ${ECHO}/24
  command: [${PYTHON}, test/testbed/fixtures/udp-echo.py, '${PORT}']
---
apiVersion: crd.antrea.io/v1beta1
kind: Egress
metadata: { name: web }
spec:
  appliedTo: { podSelector: { matchLabels: { app: web } } }
  externalIPPool: pool-c
---
apiVersion: crd.antrea.io/v1beta1
kind: Egress
metadata: { name: api }
spec:
  appliedTo: { podSelector: { matchLabels: { app: api } } }
  externalIPPool: pool-c
`;
}

/**
 * From `pod`: send the 3972-byte datagram (up to 5 tries, 1 s each) and print what the echo said: its source
 * address, the length it received, the length echoed and whether the echo is the datagram.
 */
function roundTrip(pod: string): string {
  const py = [
    'import socket, sys',
    's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)',
    'data = bytes((i * 7 + 3) & 0xff for i in range(3972))',
    'for _ in range(5):',
    `    s.sendto(data, ('${ECHO}', ${PORT}))`,
    '    try: r, _ = s.recvfrom(65535)',
    '    except socket.timeout: continue',
    "    head, _, body = r.partition(b'\\n')",
    '    print(head.decode(), len(body), body == data); sys.exit(0)',
    'sys.exit(1)',
  ].join('\n');
  const r = sh('ip', ['netns', 'exec', podNs(pod), PYTHON, '-c', py], 20_000);
  return r.stdout.trim();
}

describe.skipIf(!isRoot)('IPv4 fragments on the test bed', () => {
  const state = mkdtempSync(join(tmpdir(), 'egr-tb-frag-'));
  const file = join(state, 'cluster.yaml');
  let unlock = () => {};

  beforeAll(async () => {
    unlock = await testbedLock();
    expect(leftovers(), 'something of an earlier run is still there').toEqual([]);
    writeFileSync(file, manifests());
    const r = egress(['testbed', 'up', '--manifests', file, '--quiet'], state);
    expect(r.status, r.stderr).toBe(0);
    for (const e of ['web', 'api'])
      expect(await eventually(() => egressStatus(state, e).egressNode, 'node-c', 20_000), e).toBe('node-c');
  }, 900_000);

  afterAll(() => {
    try {
      egress(['testbed', 'down'], state);
      rmSync(state, { recursive: true, force: true });
      expect(leftovers()).toEqual([]);
    } finally {
      unlock();
    }
  });

  const counter = (stage: string, name: string) =>
    Number(runFile(state, 'node-c')['stages']?.[stage]?.['counters']?.[name] ?? 0);

  it('web-a (tunnelled to node-c): the host receives the 4000-byte datagram whole from the egress IP, and the echo comes back whole', async () => {
    const ip = egressStatus(state, 'web').egressIP;
    expect(ip).toMatch(/^198\.18\.2\.25[01]$/);
    expect(await eventually(() => roundTrip('prod/web-a'), `${ip} 3972 3972 True`, 20_000)).toBe(
      `${ip} 3972 3972 True`,
    );
    // node-c tracked the datagram's fragments, SNATed its later ones and cut the echo's for the tunnel
    expect(
      await eventually(() => counter('snat', 'fragment') > 0 && counter('unsnat', 'refragmented') > 0, true, 10_000),
    ).toBe(true);
  }, 60_000);

  it('api-c (on node-c): the same through the local SNAT', async () => {
    const ip = egressStatus(state, 'api').egressIP;
    expect(ip).toMatch(/^198\.18\.2\.25[01]$/);
    expect(await eventually(() => roundTrip('prod/api-c'), `${ip} 3972 3972 True`, 20_000)).toBe(
      `${ip} 3972 3972 True`,
    );
    expect(await eventually(() => counter('defrag', 'completed') >= 2, true, 10_000)).toBe(true);
  }, 60_000);
});
