/**
 * An egress IP on a VLAN subnet on real devices (root; docs/semantics.md §3.1): the test bed with
 * EgressSeparateSubnet on and a pool on 198.18.10.0/24, VLAN 10, gateway 198.18.10.1, its one IP 198.18.10.2
 * hosted on node-c; an Egress for app=web (prod/web-a on node-a and prod/web-b on node-b: both tunnel to node-c).
 * An external host joins the fabric on VLAN 10 only, its own kernel holding 198.18.10.50/24 and the gateway
 * address 198.18.10.1, and 198.18.20.5 on its loopback (an address only reachable through the gateway). With
 * kernel 802.1Q the fabric bridge is made VLAN-aware (`vlan_filtering 1`: every node's port carries VLAN 10
 * tagged besides the untagged segment) and the host has a VLAN sub-interface `eth0.10`; on a kernel without
 * 802.1Q (CONFIG_VLAN_8021Q unset: no sub-interface, no VLAN filtering) the host sits behind an access port of
 * VLAN 10 made in userspace (fixtures/vlan-access-port.py). A UDP responder there answers with the source address
 * it saw: the pods' datagrams arrive on the VLAN with the egress IP as source, both to the host on the subnet and
 * to the address behind the gateway, and the answers (tagged, to the egress IP) get back to the pods. Run under
 * `flock /tmp/egr-root.lock`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apply,
  egress,
  egressStatus,
  eventually,
  hostNs,
  isRoot,
  leftovers,
  neighMac,
  nodeMac,
  podNs,
  ROOT,
  runFile,
  sh,
  testbedLock,
} from './helpers.js';
import { PYTHON } from '../support/scapy.js';

const FABRIC = 'egr-fab';
const BRIDGE = 'egr-br0';
/** The VLAN host: a namespace named like the test bed's hosts (so `testbed down` and `leftovers` know it). */
const VNS = hostNs('vlan-host');
const VETH = 'egr-vh10';
/** The userspace access port's trunk and access ends (in the fabric namespace). */
const TRUNK = 'egr-vt10';
const ACCESS = 'egr-va10';
const HOST_IP = '198.18.10.50';
const BEHIND_GW = '198.18.20.5';
const EGRESS_IP = '198.18.10.2';
const PORT = 9999;

function manifests(): string {
  const text = readFileSync(join(ROOT, 'test/testbed/fixtures/cluster.yaml'), 'utf8');
  const docs = text.split('\n---\n');
  docs[0] = docs[0]!.replace(
    'kind: AgentConfig\nmetadata: { name: default }\n',
    (m) => `${m}featureGates: { EgressSeparateSubnet: true }\n`,
  );
  docs.push(`apiVersion: crd.antrea.io/v1beta1
kind: ExternalIPPool
metadata: { name: pool-vlan }
spec:
  ipRanges: [{ start: ${EGRESS_IP}, end: ${EGRESS_IP} }]
  subnetInfo: { gateway: 198.18.10.1, prefixLength: 24, vlan: 10 }
  nodeSelector: { matchLabels: { zone: two } }`);
  return docs.join('\n---\n') + '\n';
}

const EGRESS = `apiVersion: crd.antrea.io/v1beta1
kind: Egress
metadata: { name: web-vlan }
spec:
  appliedTo: { podSelector: { matchLabels: { app: web } } }
  externalIPPool: pool-vlan
`;

function must(file: string, args: readonly string[]): void {
  const r = sh(file, args);
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.stderr}`);
}

/** Whether this kernel has 802.1Q (VLAN sub-interfaces) and bridge VLAN filtering: tried in a scratch namespace. */
function kernelVlans(): boolean {
  const ns = hostNs('vlan-probe');
  sh('ip', ['netns', 'add', ns]);
  try {
    const ok = (args: string[]) => sh('ip', ['-n', ns, ...args]).status === 0;
    return (
      ok(['link', 'add', 'egr-pb', 'type', 'bridge', 'vlan_filtering', '1']) &&
      ok(['link', 'add', 'egr-pa', 'type', 'veth', 'peer', 'name', 'egr-pz']) &&
      ok(['link', 'add', 'link', 'egr-pa', 'name', 'egr-pa.10', 'type', 'vlan', 'id', '10'])
    );
  } finally {
    sh('ip', ['netns', 'delete', ns]);
  }
}

/** The agents' TAP uplinks on the fabric bridge (`egru…`, tun/devices.ts). */
function nodePorts(): string[] {
  const ports = sh('ip', ['-n', FABRIC, '-o', 'link', 'show', 'master', BRIDGE])
    .stdout.split('\n')
    .flatMap((l) => /^\d+: ([^:@ ]+)/.exec(l)?.[1] ?? []);
  const nodes = ports.filter((p) => p.startsWith('egru'));
  if (nodes.length !== 3) throw new Error(`expected three node ports on ${BRIDGE}: ${ports.join(' ')}`);
  return nodes;
}

/** The VLAN host's addresses: on the VLAN subnet, the gateway's, and one only reachable through the gateway. */
function hostAddresses(dev: string): void {
  must('ip', ['-n', VNS, 'link', 'set', 'lo', 'up']);
  must('ip', ['-n', VNS, 'addr', 'add', `${HOST_IP}/24`, 'dev', dev]);
  must('ip', ['-n', VNS, 'addr', 'add', '198.18.10.1/24', 'dev', dev]);
  must('ip', ['-n', VNS, 'addr', 'add', `${BEHIND_GW}/32`, 'dev', 'lo']);
  must('ip', ['-n', VNS, 'link', 'set', dev, 'up']);
}

/**
 * With kernel 802.1Q: the fabric bridge made VLAN-aware (`vlan_filtering 1`), VLAN 10 tagged on every node's port
 * besides the untagged segment (PVID 1), the VLAN host's port on VLAN 10 only, and a VLAN sub-interface `eth0.10`
 * in the host.
 */
function buildKernelVlanFabric(): void {
  must('ip', ['-n', FABRIC, 'link', 'set', BRIDGE, 'type', 'bridge', 'vlan_filtering', '1']);
  for (const p of nodePorts()) must('bridge', ['-n', FABRIC, 'vlan', 'add', 'dev', p, 'vid', '10']);
  must('ip', ['netns', 'add', VNS]);
  must('ip', ['-n', VNS, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', VETH, 'netns', FABRIC]);
  must('ip', ['-n', FABRIC, 'link', 'set', VETH, 'master', BRIDGE]);
  must('bridge', ['-n', FABRIC, 'vlan', 'del', 'dev', VETH, 'vid', '1']);
  must('bridge', ['-n', FABRIC, 'vlan', 'add', 'dev', VETH, 'vid', '10']);
  must('ip', ['-n', FABRIC, 'link', 'set', VETH, 'up']);
  must('ip', ['-n', VNS, 'link', 'set', 'eth0', 'up']);
  must('ip', ['-n', VNS, 'link', 'add', 'link', 'eth0', 'name', 'eth0.10', 'type', 'vlan', 'id', '10']);
  hostAddresses('eth0.10');
}

/**
 * Without kernel 802.1Q (no VLAN sub-interfaces, no bridge VLAN filtering): the VLAN host behind an access port of
 * VLAN 10 made in userspace (fixtures/vlan-access-port.py, in the fabric namespace): a trunk veth on the bridge
 * whose VLAN 10 frames reach the host untagged, and whose frames from the host leave tagged. The bridge floods
 * tagged frames to every port; the kernels of the other hosts drop them (no VLAN device: PACKET_OTHERHOST).
 */
function buildUserspaceVlanFabric(): ChildProcess {
  must('ip', ['-n', FABRIC, 'link', 'add', VETH, 'type', 'veth', 'peer', 'name', TRUNK]);
  must('ip', ['-n', FABRIC, 'link', 'set', VETH, 'master', BRIDGE]);
  must('ip', ['netns', 'add', VNS]);
  must('ip', ['-n', VNS, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', ACCESS, 'netns', FABRIC]);
  for (const d of [VETH, TRUNK, ACCESS]) must('ip', ['-n', FABRIC, 'link', 'set', d, 'up']);
  hostAddresses('eth0');
  const script = join(ROOT, 'test/testbed/fixtures/vlan-access-port.py');
  return spawn('ip', ['netns', 'exec', FABRIC, PYTHON, script, TRUNK, ACCESS, '10'], { stdio: 'ignore' });
}

/**
 * The responder: every datagram on port 9999 is answered with "seen <source address>", from the address it was
 * sent to (one socket per address: an unbound socket would answer from the interface's first address).
 */
const RESPONDER = `import select, socket
socks = []
for a in ('${HOST_IP}', '${BEHIND_GW}'):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a, ${PORT}))
    socks.append(s)
while True:
    for s in select.select(socks, [], [])[0]:
        d, a = s.recvfrom(2048)
        s.sendto(('seen ' + a[0]).encode(), a)
`;

/** One datagram from `pod` to `dst`, the answer (or null after a second). */
function ask(pod: string, dst: string): string | null {
  const py = `import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
s.sendto(b'hello', ('${dst}', ${PORT}))
print(s.recvfrom(2048)[0].decode())`;
  const r = sh('ip', ['netns', 'exec', podNs(pod), PYTHON, '-c', py], 10_000);
  return r.status === 0 ? r.stdout.trim() : null;
}

const KERNEL_VLANS = isRoot && kernelVlans();

describe.skipIf(!isRoot)(
  `an egress IP on a VLAN subnet, on the test bed (${KERNEL_VLANS ? 'bridge vlan_filtering, a VLAN sub-interface' : 'no kernel 802.1Q: a userspace access port'})`,
  () => {
    const state = mkdtempSync(join(tmpdir(), 'egr-tb-vlan-'));
    const file = join(state, 'cluster.yaml');
    let unlock = () => {};
    let responder: ChildProcess | null = null;
    let accessPort: ChildProcess | null = null;

    beforeAll(async () => {
      unlock = await testbedLock();
      expect(leftovers(), 'something of an earlier run is still there').toEqual([]);
      writeFileSync(file, manifests());
      const r = egress(['testbed', 'up', '--manifests', file, '--quiet'], state);
      expect(r.status, r.stderr).toBe(0);
      if (KERNEL_VLANS) buildKernelVlanFabric();
      else accessPort = buildUserspaceVlanFabric();
      responder = spawn('ip', ['netns', 'exec', VNS, PYTHON, '-c', RESPONDER], { stdio: 'ignore' });
      apply(state, EGRESS);
      expect(await eventually(() => egressStatus(state, 'web-vlan').egressNode, 'node-c', 20_000)).toBe('node-c');
    }, 900_000);

    afterAll(() => {
      try {
        if (responder?.pid) responder.kill('SIGKILL');
        if (accessPort?.pid) accessPort.kill('SIGKILL');
        egress(['testbed', 'down'], state);
        sh('ip', ['netns', 'delete', VNS]);
        rmSync(state, { recursive: true, force: true });
        expect(leftovers()).toEqual([]);
      } finally {
        unlock();
      }
    });

    it('pods on other nodes reach the host on the VLAN subnet with the egress IP as source; the answer comes back', async () => {
      for (const pod of ['prod/web-a', 'prod/web-b'])
        expect(await eventually(() => ask(pod, HOST_IP), `seen ${EGRESS_IP}`, 20_000), pod).toBe(`seen ${EGRESS_IP}`);
      // The host's kernel learned the egress IP on its VLAN sub-interface at node-c's MAC (ARP on VLAN 10).
      expect(neighMac(VNS, EGRESS_IP)).toBe(nodeMac('198.18.2.13'));
    }, 60_000);

    it('an address off the VLAN subnet is reached through the pool gateway, still from the egress IP', async () => {
      expect(await eventually(() => ask('prod/web-a', BEHIND_GW), `seen ${EGRESS_IP}`, 20_000)).toBe(
        `seen ${EGRESS_IP}`,
      );
      // node-c resolved the gateway (its next hop) with ARP on the VLAN, and never 198.18.20.5 itself.
      const neigh = (): string[] => (runFile(state, 'node-c')['neighbors'] as Array<{ ip: string }>).map((n) => n.ip);
      expect(await eventually(() => neigh().includes('198.18.10.1'), true, 5000)).toBe(true);
      expect(neigh()).not.toContain(BEHIND_GW);
    }, 60_000);

    it('nothing of the egress IP reaches the untagged segment: showip never hears from it', () => {
      // The bridge delivers VLAN 10 only to the VLAN host and the nodes; the host on the untagged segment learned
      // no entry for the egress IP.
      expect(neighMac(hostNs('showip'), EGRESS_IP)).toBeNull();
    });
  },
);
