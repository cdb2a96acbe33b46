/**
 * Cases of Antrea's end-to-end tests (test/e2e/egress_test.go). What a Pod's packet leaves with, and the events,
 * need the agents and the datapath: those cases run `egress replay` on the reference cluster (its Nodes, Pods and
 * external host; the Egresses and pools are the case's) over the golden captures, and read the segment capture
 * with tshark. Status and usage come from `egress apply/get`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { fields } from '../replay/scenarios.js';
import { hasTshark } from '../support/tshark.js';
import { Cluster, ROOT, cidr, egressObj, holds, hostnames, pool, range, replay } from './harness.js';
import type { Ref } from './harness.js';

const E2E = 'test/e2e/egress_test.go';
const e2e = (test: string): Ref => ({ file: E2E, test: `TestEgress/${test}` });
type Doc = Record<string, unknown>;

const REFERENCE_PCAP = join(ROOT, 'captures/replay/reference/in.pcap');
/** web-a and web-b (node-a, node-b) every 50 ms for 1.95 s. */
const STEADY_PCAP = join(ROOT, 'captures/replay/failover/in.pcap');

/** The reference cluster without its Egresses and pools, nodes labelled as a case needs. */
function referenceBase(nodeAnnotations: Record<string, Record<string, string>> = {}, gates: Doc = {}): Doc[] {
  const text = readFileSync(join(ROOT, 'examples/reference/cluster.yaml'), 'utf8');
  const docs = parseAllDocuments(text).map((d) => d.toJS() as Doc);
  return docs
    .filter((d) => d['kind'] !== 'Egress' && d['kind'] !== 'ExternalIPPool')
    .map((d) => {
      const meta = d['metadata'] as { name: string; annotations?: Record<string, string> };
      if (d['kind'] === 'Node' && nodeAnnotations[meta.name])
        return { ...d, metadata: { ...meta, annotations: { ...meta.annotations, ...nodeAnnotations[meta.name] } } };
      if (d['kind'] === 'AgentConfig') return { ...d, featureGates: { ...(d['featureGates'] as Doc), ...gates } };
      return d;
    });
}

/** Pod IP → source address the external host saw (UDP to port 9 names its sender in the payload). */
function sources(out: string): Record<string, string> {
  const rows = fields(
    join(out, 'segment.pcap'),
    'ip.dst==198.18.0.100 && udp.dstport==9 && !geneve',
    ['ip.src', 'data.text'],
    ['-o', 'data.show_as_text:TRUE'],
  );
  const seen: Record<string, string> = {};
  for (const [src, text] of rows) seen[text!.replace('udp from ', '')] = src!;
  return seen;
}

const WEB_A = '198.19.1.10'; // prod, node-a
const WEB_B = '198.19.2.10'; // prod, node-b
const WEB_C = '198.19.3.10'; // staging, node-c
const WEB_D = '198.19.1.11'; // staging, node-a
const TOOLS = '198.19.2.11'; // dev, node-b
const NODE_IP = { 'node-a': '198.18.0.11', 'node-b': '198.18.0.12', 'node-c': '198.18.0.13' };
const ns = (name: string) => ({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': name } } });

export function e2eCases(): void {
  describe.skipIf(!hasTshark())("testEgressClientIP: a static Egress on the egress Node's own IP (replay)", () => {
    const ref = e2e('testEgressClientIP/ipv4-cluster');
    const EGRESS_NODE = NODE_IP['node-c'];
    const base = referenceBase({ 'node-c': { 'egress-engine.io/static-egress-ips': '198.18.0.250' } });
    holds(ref, "an Egress for every Pod: local and remote Pods leave with the egress Node's IP", async () => {
      const r = await replay(
        [
          ...base,
          egressObj('egress-all', {
            egressIP: EGRESS_NODE,
            appliedTo: { podSelector: { matchLabels: { app: 'web' } } },
          }),
        ],
        REFERENCE_PCAP,
      );
      expect(r.summary.drops.datapath.total).toBe(0);
      expect(sources(r.dir)).toEqual({
        [WEB_A]: EGRESS_NODE,
        [WEB_B]: EGRESS_NODE,
        [WEB_C]: EGRESS_NODE,
        [WEB_D]: EGRESS_NODE,
        [TOOLS]: NODE_IP['node-b'],
      });
      expect(r.summary.status['egress-all']).toEqual({ egressIP: EGRESS_NODE, egressNode: 'node-c' });
    });
    holds(ref, 'AppliedTo changed to remote Pods only: those tunnel to it, the others use their Node IP', async () => {
      const r = await replay(
        [...base, egressObj('egress-all', { egressIP: EGRESS_NODE, appliedTo: ns('prod') })],
        REFERENCE_PCAP,
      );
      expect(sources(r.dir)).toEqual({
        [WEB_A]: EGRESS_NODE,
        [WEB_B]: EGRESS_NODE,
        [WEB_C]: EGRESS_NODE,
        [WEB_D]: NODE_IP['node-a'],
        [TOOLS]: NODE_IP['node-b'],
      });
    });
    holds(ref, 'EgressIP changed to another IP of the egress Node: its Pods leave with the new IP', async () => {
      const r = await replay(
        [...base, egressObj('egress-all', { egressIP: '198.18.0.250', appliedTo: ns('staging') })],
        REFERENCE_PCAP,
      );
      expect(sources(r.dir)).toEqual({
        [WEB_A]: NODE_IP['node-a'],
        [WEB_B]: NODE_IP['node-b'],
        [WEB_C]: '198.18.0.250',
        [WEB_D]: '198.18.0.250',
        [TOOLS]: NODE_IP['node-b'],
      });
    });
    holds(ref, 'Egress deleted: every Pod leaves with its Node IP', async () => {
      const r = await replay(base, REFERENCE_PCAP);
      expect(sources(r.dir)).toEqual({
        [WEB_A]: NODE_IP['node-a'],
        [WEB_B]: NODE_IP['node-b'],
        [WEB_C]: NODE_IP['node-c'],
        [WEB_D]: NODE_IP['node-a'],
        [TOOLS]: NODE_IP['node-b'],
      });
    });
  });

  describe('testEgressCRUD (apply/get)', () => {
    const ASSIGNED = 'IPAssigned True Assigned EgressIP is successfully assigned to EgressNode';
    const ALLOCATED = 'IPAllocated True Allocated EgressIP is successfully allocated';
    const rows: [string, { cidr: string } | { start: string; end: string }, Doc, string, string[], number, string[]][] =
      [
        [
          'single matching Node',
          cidr('169.254.100.0/30'),
          { matchLabels: { 'kubernetes.io/hostname': 'node-a' } },
          '169.254.100.1',
          ['node-a'],
          2,
          [ASSIGNED, ALLOCATED],
        ],
        [
          'single matching Node with IPv6 range',
          cidr('2021:1::aaa0/124'),
          { matchLabels: { 'kubernetes.io/hostname': 'node-a' } },
          '2021:1::aaa1',
          ['node-a'],
          15,
          [ASSIGNED, ALLOCATED],
        ],
        [
          'two matching Nodes',
          range('169.254.101.10', '169.254.101.11'),
          hostnames('node-a', 'node-b'),
          '169.254.101.10',
          ['node-a', 'node-b'],
          2,
          [ASSIGNED, ALLOCATED],
        ],
        [
          'no matching Node',
          cidr('169.254.102.0/30'),
          { matchLabels: { foo: 'bar' } },
          '169.254.102.1',
          [],
          2,
          ['IPAssigned False AssignmentError Failed to assign the IP to EgressNode: no Node available', ALLOCATED],
        ],
      ];
    for (const [name, r, nodeSelector, ip, nodesWanted, total, conds] of rows) {
      holds(
        e2e(`testEgressCRUD/${name}`),
        `IP ${ip}, conditions in order, usage ${total}, released on delete`,
        async () => {
          const c = new Cluster();
          await c.ok([
            ...referenceBase(),
            pool('crud-pool', [r], { nodeSelector }),
            egressObj('crud-egress', {
              externalIPPool: 'crud-pool',
              appliedTo: { namespaceSelector: { matchLabels: { foo: 'bar' } } },
            }),
          ]);
          const e = (await c.egresses()).get('crud-egress')!;
          expect(e.specIP).toBe(ip);
          expect(e.conditions).toEqual(conds);
          if (nodesWanted.length === 0) expect(e.node).toBe('');
          else expect(nodesWanted).toContain(e.node);
          expect((await c.usage()).get('crud-pool')).toEqual({ total, used: 1 });
          expect((await c.delete('egress', 'crud-egress')).code).toBe(0);
          expect((await c.usage()).get('crud-pool')).toEqual({ total, used: 0 });
        },
      );
    }
    holds(
      e2e('testEgressCRUD/single matching Node'),
      'one event, "Assigned Egress … on Node …"; none when the Egress is deleted (replay)',
      async () => {
        const docs = [
          ...referenceBase(),
          pool('crud-pool', [cidr('198.18.0.252/30')], {
            nodeSelector: { matchLabels: { 'kubernetes.io/hostname': 'node-a' } },
          }),
          egressObj('crud-egress', { externalIPPool: 'crud-pool', appliedTo: ns('prod') }),
        ];
        const r = await replay(docs, STEADY_PCAP, '- at: 1\n  delete: [{ kind: Egress, name: crud-egress }]\n');
        expect(r.summary.events.map((e) => e.message)).toEqual([
          'Assigned Egress crud-egress with IP 198.18.0.253 on Node node-a',
        ]);
      },
    );
  });

  describe('testEgressUpdateEgressIP (replay: the events in order)', () => {
    const cases: [string, string, string][] = [
      ['same Node', 'node-a', 'node-a'],
      ['different Nodes', 'node-a', 'node-b'],
    ];
    for (const [name, from, to] of cases) {
      holds(
        e2e(`testEgressUpdateEgressIP/${name}`),
        `Assigned old on ${from}, then Unassigned old and Assigned new on ${to}`,
        async () => {
          const sel = (n: string) => ({ nodeSelector: { matchLabels: { 'kubernetes.io/hostname': n } } });
          const docs = [
            ...referenceBase(),
            pool('pool-a', [cidr('198.18.0.248/30')], sel(from)),
            pool('pool-b', [cidr('198.18.0.252/30')], sel(to)),
            egressObj('egress-update', { externalIPPool: 'pool-a', appliedTo: ns('prod') }),
          ];
          const change = `- at: 0.5\n  apply: |\n    apiVersion: crd.antrea.io/v1beta1\n    kind: Egress\n    metadata: { name: egress-update }\n    spec:\n      appliedTo: { namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: prod } } }\n      externalIPPool: pool-b\n`;
          const r = await replay(docs, STEADY_PCAP, change);
          const msgs = r.summary.events.map((e) => e.message);
          expect(msgs[0]).toBe(`Assigned Egress egress-update with IP 198.18.0.249 on Node ${from}`);
          expect(msgs.slice(1).sort()).toEqual(
            [
              `Unassigned Egress egress-update with IP 198.18.0.249 from Node ${from}`,
              `Assigned Egress egress-update with IP 198.18.0.253 on Node ${to}`,
            ].sort(),
          );
          expect(r.summary.status['egress-update']).toEqual({ egressIP: '198.18.0.253', egressNode: to });
        },
      );
    }
  });

  describe('testEgressUpdateNodeSelector and testEgressNodeFailure', () => {
    holds(
      e2e('testEgressUpdateNodeSelector/IPv4 cluster'),
      "the pool's nodeSelector drops the egress Node: the IP moves to the other candidate, and back on revert",
      async () => {
        const c = new Cluster();
        const two = hostnames('node-a', 'node-b');
        const eg = egressObj('migration-egress', {
          externalIPPool: 'pool-two',
          appliedTo: { namespaceSelector: { matchLabels: { foo: 'bar' } } },
        });
        await c.ok([...referenceBase(), pool('pool-two', [cidr('169.254.100.0/30')], { nodeSelector: two }), eg]);
        const from = (await c.egresses()).get('migration-egress')!.node;
        expect(['node-a', 'node-b']).toContain(from);
        const to = from === 'node-a' ? 'node-b' : 'node-a';
        await c.ok([pool('pool-two', [cidr('169.254.100.0/30')], { nodeSelector: hostnames(to) })]);
        expect((await c.egresses()).get('migration-egress')!.node).toBe(to);
        await c.ok([pool('pool-two', [cidr('169.254.100.0/30')], { nodeSelector: two })]);
        expect((await c.egresses()).get('migration-egress')!.node).toBe(from);
      },
    );
    holds(
      e2e('testEgressNodeFailure/IPv4 cluster'),
      "the egress Node's agent stops: the IP moves to the other candidate, and back when it resumes (replay)",
      async () => {
        const docs = [
          ...referenceBase(),
          pool('pool-two', [cidr('198.18.0.252/30')], { nodeSelector: hostnames('node-b', 'node-c') }),
          egressObj('migration-egress', { externalIPPool: 'pool-two', appliedTo: ns('prod') }),
        ];
        const first = await replay(docs, STEADY_PCAP);
        const from = first.summary.status['migration-egress']!.egressNode;
        const to = from === 'node-b' ? 'node-c' : 'node-b';
        const r = await replay(docs, STEADY_PCAP, `- at: 0.3\n  fail: ${from}\n- at: 1.2\n  restore: ${from}\n`);
        const owners = r.summary.ownership.filter((o) => o.ip === '198.18.0.253').map((o) => o.nodes.join(','));
        expect(owners[0]).toBe(from);
        expect(owners).toContain(to);
        expect(owners[owners.length - 1]).toBe(from);
      },
    );
  });

  describe('testUpdateBandwidth (replay: the meter of the egress IP)', () => {
    /** The steady capture through a rate-limited Egress; drops by the meter and what the outside received. */
    async function shaped(rate: string, burst: string, timeline?: string) {
      const docs = [
        ...referenceBase({}, { EgressTrafficShaping: true }),
        pool('pool-bw', [range('198.18.0.253', '198.18.0.254')], { nodeSelector: hostnames('node-c') }),
        egressObj('shaped', { externalIPPool: 'pool-bw', bandwidth: { rate, burst }, appliedTo: ns('prod') }),
      ];
      const r = await replay(docs, STEADY_PCAP, timeline);
      const s = r.summary as unknown as {
        nodes: Record<string, { stages: Record<string, { counters?: Record<string, number> }> }>;
        hosts: Record<string, { counters: Record<string, number> }>;
      };
      const limited = Object.values(s.nodes).reduce(
        (n, x) => n + (x.stages['snat']?.counters?.['drop-rate-limited'] ?? 0),
        0,
      );
      return { limited, received: s.hosts['showip']!.counters['received'] ?? 0 };
    }
    holds(
      e2e('testUpdateBandwidth'),
      'a rate limit polices what the Egress sends; raising it live stops the drops',
      async () => {
        // 80 packets of web-a and web-b in 1.95 s through node-c's egress IP: a 1 kbit/s meter with a 13 kbit bucket
        // passes the bucket's worth and then about two frames a second.
        const slow = await shaped('1k', '13k');
        expect(slow.limited).toBeGreaterThan(30);
        expect(slow.received + slow.limited).toBe(80);
        const free = await shaped('100M', '200M');
        expect([free.limited, free.received]).toEqual([0, 80]);
        // The same slow meter raised to 100M at 0.5 s, before the bucket runs dry: nothing is dropped.
        const raise = `- at: 0.5\n  apply: |\n    apiVersion: crd.antrea.io/v1beta1\n    kind: Egress\n    metadata: { name: shaped }\n    spec:\n      appliedTo: { namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: prod } } }\n      externalIPPool: pool-bw\n      bandwidth: { rate: 100M, burst: 200M }\n`;
        const live = await shaped('1k', '13k', raise);
        expect(live.limited).toBe(0);
        expect(live.received + live.limited).toBe(80);
      },
    );
  });

  describe.skipIf(!hasTshark())('testEgressClientIPFromVLANSubnet (replay: a VLAN-aware segment)', () => {
    holds(
      e2e('testEgressClientIPFromVLANSubnet/ipv4-cluster'),
      "an egress IP of a pool on VLAN 10: its Pods' packets leave tagged through the pool gateway, replies come back",
      async () => {
        // Antrea's case: a pool on another subnet with a VLAN, its one IP the gateway's next address.
        const docs = [
          ...referenceBase({}, { EgressSeparateSubnet: true }),
          pool('pool-vlan', [range('198.18.10.2', '198.18.10.2')], {
            subnetInfo: { gateway: '198.18.10.1', prefixLength: 24, vlan: 10 },
          }),
          egressObj('egress-vlan', { externalIPPool: 'pool-vlan', appliedTo: ns('prod') }),
        ];
        const r = await replay(docs, REFERENCE_PCAP);
        const seg = join(r.dir, 'segment.pcap');
        // Selected Pods (local and remote to the egress Node) leave with the egress IP, the others with their Node's.
        expect(sources(r.dir)).toEqual({
          [WEB_A]: '198.18.10.2',
          [WEB_B]: '198.18.10.2',
          [WEB_C]: NODE_IP['node-c'],
          [WEB_D]: NODE_IP['node-a'],
          [TOOLS]: NODE_IP['node-b'],
        });
        // Every frame from or to the egress IP is on VLAN 10; the pool gateway (its MAC) is their next hop.
        expect(fields(seg, 'ip.addr==198.18.10.2 && !vlan && !geneve', ['frame.number'])).toEqual([]);
        const gwMac = '02:ee:c6:12:0a:01';
        const out = fields(seg, 'ip.src==198.18.10.2 && udp.dstport==9', ['vlan.id', 'eth.dst']);
        expect(out.length).toBeGreaterThan(0);
        expect(new Set(out.map((f) => f.join(' ')))).toEqual(new Set([`10 ${gwMac}`]));
        // ARP on the VLAN: the gratuitous ARP of the egress IP, the request for the gateway and its answer.
        const arps = fields(seg, 'arp && vlan.id==10', ['arp.opcode', 'arp.src.proto_ipv4', 'arp.dst.proto_ipv4']);
        expect(arps).toContainEqual(['1', '198.18.10.2', '198.18.10.2']);
        expect(arps).toContainEqual(['1', '198.18.10.2', '198.18.10.1']);
        expect(arps).toContainEqual(['2', '198.18.10.1', '198.18.10.2']);
        expect(fields(seg, 'arp && !vlan && arp.src.proto_ipv4==198.18.10.2', ['frame.number'])).toEqual([]);
        // The replies, tagged to the egress IP, are un-NATed to the Pods.
        const back = fields(join(r.dir, 'pods.pcap'), 'ip.src==198.18.0.100 && udp.srcport==9', ['ip.dst']);
        expect(new Set(back.map((f) => f[0]))).toEqual(new Set([WEB_A, WEB_B, WEB_C, WEB_D, TOOLS]));
        // The only drops: VLAN 10 broadcasts (the GARP, the request for the gateway) reaching the Nodes that host
        // nothing on VLAN 10 (a Linux host without the sub-interface drops them too).
        const drops = Object.entries(r.summary.drops.datapath).filter(([k]) => k !== 'total');
        expect(drops.every(([k]) => k.endsWith('/uplink-ingress.vlan'))).toBe(true);
      },
    );
  });
}
