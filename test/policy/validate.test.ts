/**
 * Bad manifests of every kind, with their messages: Antrea's webhook wording (pkg/controller/egress/validate.go,
 * pkg/controller/externalippool/validate.go, pkg/controller/validation/ippool.go), the API server's schema wording,
 * and the document, field path and line of each error. A set with one bad document changes nothing.
 */
import { describe, expect, it } from 'vitest';
import * as policy from '../../engine/policy/index.js';
import {
  T0,
  agentConfig,
  applyYAML,
  errorLines,
  mustApply,
  namespace,
  node,
  pod,
  pool,
  warningLines,
} from './helpers.js';

/** Errors of applying `yaml` on top of `prev`, without the "file:line: document N" prefix. */
function errs(yaml: string, prev: policy.ClusterState = policy.emptyState()): string[] {
  return errorLines(applyYAML(prev, yaml)).map((l) => l.replace(/^test\.yaml:\d+: document \d+ /, ''));
}

const base = () =>
  mustApply(policy.emptyState(), [
    agentConfig(),
    node('node-a', '198.18.0.11', { podCIDR: '10.10.1.0/24' }),
    node('node-b', '198.18.0.12', { podCIDR: '10.10.2.0/24' }),
    namespace('prod'),
    pool('pool-a', [{ cidr: '169.254.100.0/30' }]),
  ]);

describe('errors name the file, line, document, object and field', () => {
  it('points at the offending line', () => {
    const yaml = `apiVersion: v1
kind: Namespace
metadata:
  name: ok
---
apiVersion: crd.antrea.io/v1beta1
kind: ExternalIPPool
metadata:
  name: p1
spec:
  ipRanges:
    - cidr: 10.0.0.0/24
    - start: 10.1.0.9
      end: 10.1.0.1
  nodeSelector: {}
`;
    expect(errorLines(applyYAML(policy.emptyState(), yaml))).toEqual([
      'test.yaml:13: document 2 (ExternalIPPool/p1) spec.ipRanges[1]: range start 10.1.0.9 should not be greater than range end 10.1.0.1',
    ]);
  });

  it('reports YAML syntax errors with their line, and applies nothing', () => {
    const r = applyYAML(policy.emptyState(), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\nfoo: "bar\n');
    expect(r.ok).toBe(false);
    expect(errorLines(r)).toEqual(['test.yaml:7: document 2 YAML: Missing closing "quote']);
    expect(r.state.namespaces.size).toBe(0);
  });

  it('reports every bad document of a set, and the set changes nothing', () => {
    const prev = base();
    const yaml = `apiVersion: v1
kind: Namespace
metadata:
  name: fine
---
apiVersion: v1
kind: Nodes
metadata: {name: x}
---
apiVersion: crd.antrea.io/v1beta1
kind: Egress
metadata: {name: e1}
spec:
  appliedTo: {}
  egressIP: 300.1.1.1
`;
    const r = applyYAML(prev, yaml);
    expect(errorLines(r)).toEqual([
      'test.yaml:7: document 2 (Nodes/x) kind: no matches for kind "Nodes" in version "v1"',
      'test.yaml:15: document 3 (Egress/e1) spec.egressIP: Invalid value: "300.1.1.1": must be an IPv4 or IPv6 address',
    ]);
    expect(r.state).toBe(prev);
    expect(r.state.namespaces.has('fine')).toBe(false);
  });

  it('names lines inside an embedded antrea-agent.conf', () => {
    const yaml = `apiVersion: v1
kind: ConfigMap
metadata:
  name: antrea-config
  namespace: kube-system
data:
  antrea-agent.conf: |
    featureGates:
      Egress: true
    egress:
      maxEgressIPsPerNode: 300
`;
    expect(errorLines(applyYAML(policy.emptyState(), yaml))).toEqual([
      'test.yaml:11: document 1 (ConfigMap/kube-system/antrea-config) data[antrea-agent.conf].egress.maxEgressIPsPerNode: maxEgressIPsPerNode cannot be greater than 255',
    ]);
  });
});

describe('Egress', () => {
  it('rejects the plural fields with Antrea messages', () => {
    expect(
      errs(`apiVersion: crd.antrea.io/v1beta1
kind: Egress
metadata: {name: e}
spec:
  appliedTo: {podSelector: {}}
  egressIPs: ["10.0.0.1"]
`),
    ).toEqual(['(Egress/e) spec.egressIPs: spec.egressIPs is not supported yet']);
    expect(
      errs(`apiVersion: crd.antrea.io/v1beta1
kind: Egress
metadata: {name: e}
spec:
  appliedTo: {podSelector: {}}
  externalIPPools: ["p"]
`),
    ).toEqual(['(Egress/e) spec.externalIPPools: spec.externalIPPools is not supported yet']);
  });

  it('rejects mixing singular and plural fields, or neither (CRD oneOf)', () => {
    const both = errs(`apiVersion: crd.antrea.io/v1beta1
kind: Egress
metadata: {name: e}
spec:
  appliedTo: {podSelector: {}}
  egressIP: 10.0.0.1
  egressIPs: ["10.0.0.1"]
`);
    expect(both).toEqual([
      '(Egress/e) spec: Invalid value: "object": must validate one and only one schema (oneOf): egressIP/externalIPPool and egressIPs/externalIPPools are exclusive',
    ]);
    expect(errs(egressYaml('  appliedTo: {podSelector: {}}'))).toEqual([
      '(Egress/e) spec: Invalid value: "object": must validate one and only one schema (oneOf): set egressIP or externalIPPool',
    ]);
  });

  it('validates bandwidth quantities', () => {
    expect(
      errs(egressYaml('  appliedTo: {podSelector: {}}\n  egressIP: 10.0.0.1\n  bandwidth: {rate: 100X, burst: 2G}')),
    ).toEqual([
      "(Egress/e) spec.bandwidth.rate: Rate 100X in Egress e is invalid: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
    ]);
    expect(
      errs(egressYaml('  appliedTo: {podSelector: {}}\n  egressIP: 10.0.0.1\n  bandwidth: {rate: 100M, burst: 2GG}')),
    ).toEqual(["(Egress/e) spec.bandwidth.burst: Burst 2GG in Egress e is invalid: unable to parse quantity's suffix"]);
    expect(errs(egressYaml('  appliedTo: {podSelector: {}}\n  egressIP: 10.0.0.1\n  bandwidth: {rate: 100M}'))).toEqual(
      ['(Egress/e) spec.bandwidth.burst: Required value'],
    );
  });

  it('refuses a rate or burst a meter cannot express (ours: Antrea only parses them)', () => {
    const bw = (rate: string, burst: string) =>
      errs(
        egressYaml(
          `  appliedTo: {podSelector: {}}\n  egressIP: 10.0.0.1\n  bandwidth: {rate: "${rate}", burst: "${burst}"}`,
        ),
      );
    expect(bw('999', '1M')).toEqual([
      '(Egress/e) spec.bandwidth.rate: Rate 999 in Egress e is invalid: below 1k: a meter counts whole kbit/s',
    ]);
    expect(bw('-5M', '1M')).toEqual([
      '(Egress/e) spec.bandwidth.rate: Rate -5M in Egress e is invalid: below 1k: a meter counts whole kbit/s',
    ]);
    expect(bw('4294967296k', '1M')).toEqual([
      "(Egress/e) spec.bandwidth.rate: Rate 4294967296k in Egress e is invalid: above 4294967295k: a meter's rate is a 32-bit count of kbit/s",
    ]);
    expect(bw('10M', '12999')).toEqual([
      '(Egress/e) spec.bandwidth.burst: Burst 12999 in Egress e is invalid: below 13k: the bucket must hold one 1514-byte frame (12 112 bits) in whole kbit',
    ]);
    expect(bw('10M', '1e99999999')).toEqual([
      "(Egress/e) spec.bandwidth.burst: Burst 1e99999999 in Egress e is invalid: above 4294967295k: a meter's burst is a 32-bit count of kbit",
    ]);
    expect(bw('1k', '13k')).toEqual([]);
    expect(bw('4294967295k', '4294967295k')).toEqual([]);
  });

  it('checks a pinned IP against its pool (exists, inside a range)', () => {
    const prev = base();
    expect(
      errs(egressYaml('  appliedTo: {podSelector: {}}\n  egressIP: 169.254.100.1\n  externalIPPool: nope'), prev),
    ).toEqual(['(Egress/e) spec.externalIPPool: ExternalIPPool nope does not exist']);
    expect(
      errs(egressYaml('  appliedTo: {podSelector: {}}\n  egressIP: 169.254.100.9\n  externalIPPool: pool-a'), prev),
    ).toEqual(['(Egress/e) spec.egressIP: IP 169.254.100.9 is not within the IP range']);
    // The network address is outside; the broadcast address is "within" (Antrea's Has), allocation then fails.
    expect(
      errs(egressYaml('  appliedTo: {podSelector: {}}\n  egressIP: 169.254.100.0\n  externalIPPool: pool-a'), prev),
    ).toEqual(['(Egress/e) spec.egressIP: IP 169.254.100.0 is not within the IP range']);
    const r = applyYAML(
      prev,
      egressYaml('  appliedTo: {podSelector: {}}\n  egressIP: 169.254.100.3\n  externalIPPool: pool-a'),
    );
    expect(r.ok).toBe(true);
    expect(r.state.egresses.get('e')!.status.conditions!.map((c) => c.message)).toEqual([
      'Cannot allocate EgressIP from ExternalIPPool: error when allocating IP 169.254.100.3 for Egress e from ExternalIPPool pool-a: cannot allocate IP 169.254.100.3 in any range',
    ]);
  });

  it('an auto Egress may name a missing pool (allocation then fails, as in Antrea)', () => {
    const r = applyYAML(base(), egressYaml('  appliedTo: {podSelector: {}}\n  externalIPPool: later'));
    expect(r.ok).toBe(true);
    expect(r.state.egresses.get('e')!.status.conditions!.map((c) => c.message)).toEqual([
      'Cannot allocate EgressIP from ExternalIPPool: ExternalIPPool later does not exist',
    ]);
  });

  it('validates selectors like the API server', () => {
    expect(
      errs(
        egressYaml(`  appliedTo:
    podSelector:
      matchExpressions:
        - {key: app, operator: In}
        - {key: app, operator: Exists, values: [x]}
        - {key: app, operator: Near, values: [x]}
        - {key: "bad key", operator: Exists}
      matchLabels: {app: "no spaces"}
  egressIP: 10.0.0.1`),
      ),
    ).toEqual([
      "(Egress/e) spec.appliedTo.podSelector.matchLabels.app: Invalid value: \"no spaces\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
      "(Egress/e) spec.appliedTo.podSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
      "(Egress/e) spec.appliedTo.podSelector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
      '(Egress/e) spec.appliedTo.podSelector.matchExpressions[2].operator: Unsupported value: "Near": supported values: "In", "NotIn", "Exists", "DoesNotExist"',
      "(Egress/e) spec.appliedTo.podSelector.matchExpressions[3].key: Invalid value: \"bad key\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    ]);
  });

  it('rejects unknown fields, a missing appliedTo and a bad name', () => {
    expect(errs(egressYaml('  appliedTo: {podSelector: {}}\n  egressIP: 10.0.0.1\n  egresIP: 10.0.0.2'))).toEqual([
      '(Egress/e) spec.egresIP: unknown field "spec.egresIP"',
    ]);
    expect(errs(egressYaml('  egressIP: 10.0.0.1'))).toEqual(['(Egress/e) spec.appliedTo: Required value']);
    expect(
      errs(egressYaml('  appliedTo: {podSelector: {}}\n  egressIP: 10.0.0.1').replace('name: e', 'name: Bad_Name')),
    ).toEqual([
      "(Egress/Bad_Name) metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ]);
  });

  it('warns about a static IP on no Node, and empty appliedTo', () => {
    const r = applyYAML(base(), egressYaml('  appliedTo: {}\n  egressIP: 198.18.0.50'));
    expect(r.ok).toBe(true);
    expect(warningLines(r).map((l) => l.replace(/^test\.yaml:\d+: document \d+ /, ''))).toEqual([
      '(Egress/e) spec.appliedTo: empty appliedTo selects no Pod',
      "(Egress/e) spec.egressIP: static egressIP 198.18.0.50 is on no Node (neither a Node's InternalIP nor in a Node's egress-engine.io/static-egress-ips annotation): its Pods fall back to their Node's IP",
    ]);
  });
});

function egressYaml(specBody: string): string {
  return `apiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata:\n  name: e\nspec:\n${specBody}\n`;
}

function poolYaml(name: string, specBody: string): string {
  return `apiVersion: crd.antrea.io/v1beta1\nkind: ExternalIPPool\nmetadata:\n  name: ${name}\nspec:\n${specBody}\n`;
}

describe('ExternalIPPool', () => {
  it('requires ipRanges and nodeSelector (e2e testCreateExternalIPPool)', () => {
    expect(errs(poolYaml('p', '  nodeSelector: {}'))).toEqual(['(ExternalIPPool/p) spec.ipRanges: Required value']);
    expect(errs(poolYaml('p', '  ipRanges: []'))).toEqual(['(ExternalIPPool/p) spec.nodeSelector: Required value']);
  });

  it('validates ranges with Antrea messages', () => {
    const cases: [string, string][] = [
      [
        '- {cidr: 10.0.0.0/24, start: 10.0.0.1, end: 10.0.0.2}',
        'spec.ipRanges[0]: Invalid value: "object": must validate one and only one schema (oneOf): either cidr, or start and end',
      ],
      [
        '- {start: 10.0.0.1}',
        'spec.ipRanges[0]: Invalid value: "object": must validate one and only one schema (oneOf): either cidr, or start and end',
      ],
      ['- {cidr: 10.0.0.0/33}', 'spec.ipRanges[0].cidr: Invalid value: "10.0.0.0/33": must be a CIDR'],
      [
        '- {start: 10.0.0.1, end: "2001::1"}',
        'spec.ipRanges[0]: range start 10.0.0.1 and range end 2001::1 should belong to same family',
      ],
      [
        '- {start: 10.0.0.9, end: 10.0.0.1}',
        'spec.ipRanges[0]: range start 10.0.0.9 should not be greater than range end 10.0.0.1',
      ],
      [
        '- {cidr: 10.0.0.0/24}\n  - {start: 10.0.0.5, end: 10.0.0.6}',
        'spec.ipRanges[1]: range [10.0.0.5-10.0.0.6] overlaps with range [10.0.0.0/24]',
      ],
    ];
    for (const [ranges, msg] of cases)
      expect(errs(poolYaml('p', `  ipRanges:\n  ${ranges}\n  nodeSelector: {}`)), ranges).toEqual([
        `(ExternalIPPool/p) ${msg}`,
      ]);
  });

  it('rejects overlap with another pool, in the store or in the same set', () => {
    expect(errs(poolYaml('p', '  ipRanges: [{cidr: 169.254.100.2/31}]\n  nodeSelector: {}'), base())).toEqual([
      '(ExternalIPPool/p) spec.ipRanges[0]: range [169.254.100.2/31] overlaps with range [169.254.100.0/30] of ExternalIPPool pool-a',
    ]);
    const two =
      poolYaml('p1', '  ipRanges: [{cidr: 10.0.0.0/24}]\n  nodeSelector: {}') +
      '---\n' +
      poolYaml('p2', '  ipRanges: [{start: 10.0.0.200, end: 10.0.1.5}]\n  nodeSelector: {}');
    expect(errs(two)).toEqual([
      '(ExternalIPPool/p2) spec.ipRanges[0]: range [10.0.0.200-10.0.1.5] overlaps with range [10.0.0.0/24] of ExternalIPPool p1',
    ]);
  });

  it('validates subnetInfo (webhook bounds are exclusive, ranges inside the subnet)', () => {
    expect(
      errs(
        poolYaml(
          'p',
          '  ipRanges: [{cidr: 10.0.0.0/30}]\n  subnetInfo: {gateway: 10.0.0.1, prefixLength: 32}\n  nodeSelector: {}',
        ),
      ),
    ).toEqual(['(ExternalIPPool/p) spec.subnetInfo.prefixLength: invalid prefixLength 32']);
    expect(
      errs(
        poolYaml(
          'p',
          '  ipRanges: [{cidr: 10.0.0.0/30}]\n  subnetInfo: {gateway: 10.0.0.1, prefixLength: 0}\n  nodeSelector: {}',
        ),
      ),
    ).toEqual([
      '(ExternalIPPool/p) spec.subnetInfo.prefixLength: Invalid value: 0: spec.subnetInfo.prefixLength in body should be greater than or equal to 1',
    ]);
    expect(
      errs(
        poolYaml(
          'p',
          '  ipRanges: [{start: 10.0.1.2, end: 10.0.1.5}]\n  subnetInfo: {gateway: 10.0.0.1, prefixLength: 24, vlan: 5000}\n  nodeSelector: {}',
        ),
      ),
    ).toEqual([
      '(ExternalIPPool/p) spec.subnetInfo.vlan: Invalid value: 5000: spec.subnetInfo.vlan in body should be less than or equal to 4094',
    ]);
    expect(
      errs(
        poolYaml(
          'p',
          '  ipRanges: [{start: 10.0.1.2, end: 10.0.1.5}]\n  subnetInfo: {gateway: 10.0.0.1, prefixLength: 24}\n  nodeSelector: {}',
        ),
      ),
    ).toEqual([
      '(ExternalIPPool/p) spec.ipRanges[0]: range [10.0.1.2-10.0.1.5] must be a strict subset of the subnet 10.0.0.1/24',
    ]);
    expect(
      errs(
        poolYaml(
          'p',
          '  ipRanges: [{cidr: 10.0.0.0/30}]\n  subnetInfo: {gateway: nope, prefixLength: 24}\n  nodeSelector: {}',
        ),
      ),
    ).toEqual(['(ExternalIPPool/p) spec.subnetInfo.gateway: invalid gateway address nope']);
  });

  it("validates a VLAN subnet: Antrea's bounds 0..4094, not overlapping the segment or another VLAN's subnet", () => {
    const vlanPool = (name: string, gw: string, len: number, vlan: number, range: string) =>
      poolYaml(
        name,
        `  ipRanges: [{start: ${range}, end: ${range}}]\n  subnetInfo: {gateway: ${gw}, prefixLength: ${len}, vlan: ${vlan}}\n  nodeSelector: {}`,
      );
    expect(errs(vlanPool('p', '198.18.10.1', 24, -1, '198.18.10.2'), base())).toEqual([
      '(ExternalIPPool/p) spec.subnetInfo.vlan: Invalid value: -1: spec.subnetInfo.vlan in body should be greater than or equal to 0',
    ]);
    expect(errs(vlanPool('p', '198.18.10.1', 24, 4095, '198.18.10.2'), base())).toEqual([
      '(ExternalIPPool/p) spec.subnetInfo.vlan: Invalid value: 4095: spec.subnetInfo.vlan in body should be less than or equal to 4094',
    ]);
    for (const vlan of [1, 4094])
      expect(errs(vlanPool('p', '198.18.10.1', 24, vlan, '198.18.10.2'), base())).toEqual([]);
    // transportCIDR 198.18.0.0/24 (base): a VLAN subnet holding it, or inside it, is refused; VLAN 0 is the segment's.
    expect(errs(vlanPool('p', '198.18.0.1', 23, 10, '198.18.1.2'), base())).toEqual([
      "(ExternalIPPool/p) spec.subnetInfo: subnet 198.18.0.1/23 of VLAN 10 overlaps transportCIDR 198.18.0.0/24: a VLAN subnet must be another subnet than the segment's",
    ]);
    expect(errs(vlanPool('p', '198.18.0.129', 25, 10, '198.18.0.130'), base())).toHaveLength(1);
    expect(errs(vlanPool('p', '198.18.0.1', 24, 0, '198.18.0.250'), base())).toEqual([]);
    // Two pools on one subnet: on the same VLAN fine, on two VLANs refused.
    const same =
      vlanPool('p1', '198.18.10.1', 24, 10, '198.18.10.2') +
      '---\n' +
      vlanPool('p2', '198.18.10.1', 24, 10, '198.18.10.3');
    expect(errs(same, base())).toEqual([]);
    const two =
      vlanPool('p1', '198.18.10.1', 24, 10, '198.18.10.2') +
      '---\n' +
      vlanPool('p2', '198.18.10.129', 25, 20, '198.18.10.130');
    expect(errs(two, base())).toEqual([
      '(ExternalIPPool/p1) spec.subnetInfo: subnet 198.18.10.1/24 of VLAN 10 overlaps subnet 198.18.10.129/25 of VLAN 20 of ExternalIPPool p2',
      '(ExternalIPPool/p2) spec.subnetInfo: subnet 198.18.10.129/25 of VLAN 20 overlaps subnet 198.18.10.1/24 of VLAN 10 of ExternalIPPool p1',
    ]);
  });

  it('forbids removing or changing a range on update, allows adding one', () => {
    const prev = base();
    expect(errs(poolYaml('pool-a', '  ipRanges: [{cidr: 169.254.200.0/30}]\n  nodeSelector: {}'), prev)).toEqual([
      '(ExternalIPPool/pool-a) spec.ipRanges: existing IPRanges [169.254.100.0/30] cannot be updated or deleted',
    ]);
    const r = applyYAML(
      prev,
      poolYaml('pool-a', '  ipRanges: [{cidr: 169.254.100.0/30}, {cidr: 169.254.200.0/30}]\n  nodeSelector: {}'),
    );
    expect(r.ok).toBe(true);
    expect(r.state.pools.get('pool-a')!.status.usage.total).toBe(4);
  });
});

describe('Node, Namespace, Pod', () => {
  it('Node: needs an IPv4 InternalIP, unique and on the segment; annotations are checked', () => {
    const prev = base();
    const n = (body: string) => `apiVersion: v1\nkind: Node\nmetadata:\n  name: n\n${body}\n`;
    expect(errs(n('status: {addresses: [{type: Hostname, address: n}]}'), prev)).toEqual([
      '(Node/n) status.addresses: Required value: a Node needs an IPv4 InternalIP address (its transport IP), or IPv6 ones only (an IPv6 underlay)',
    ]);
    expect(errs(n('status: {addresses: [{type: InternalIP, address: 198.18.0.11}]}'), prev)).toEqual([
      '(Node/n) status.addresses: InternalIP 198.18.0.11 is also the transport IP of Node node-a',
    ]);
    expect(errs(n('status: {addresses: [{type: InternalIP, address: 198.19.0.1}]}'), prev)).toEqual([
      '(Node/n) status.addresses: InternalIP 198.19.0.1 is not inside transportCIDR 198.18.0.0/24',
    ]);
    expect(
      errs(n('spec: {podCIDR: 10.10.1.128/25}\nstatus: {addresses: [{type: InternalIP, address: 198.18.0.20}]}'), prev),
    ).toEqual(['(Node/n) spec.podCIDR: Pod CIDR 10.10.1.128/25 overlaps the Pod CIDR 10.10.1.0/24 of Node node-a']);
    expect(
      errs(
        n(
          '  annotations: {node.antrea.io/max-egress-ips: "-1"}\nstatus: {addresses: [{type: InternalIP, address: 198.18.0.20}]}',
        ),
        prev,
      ),
    ).toEqual([
      '(Node/n) metadata.annotations[node.antrea.io/max-egress-ips]: Invalid value: "-1": must be an integer between 0 and 255',
    ]);
    expect(
      errs(
        n(
          '  annotations: {egress-engine.io/static-egress-ips: "198.18.0.50, x"}\nstatus: {addresses: [{type: InternalIP, address: 198.18.0.20}]}',
        ),
        prev,
      ),
    ).toEqual([
      '(Node/n) metadata.annotations[egress-engine.io/static-egress-ips]: Invalid value: "x": must be a comma-separated list of IP addresses',
    ]);
  });

  it('Node: unmodelled fields are ignored with a warning; kubelet labels are added', () => {
    const r = applyYAML(
      base(),
      `apiVersion: v1
kind: Node
metadata: {name: n3}
spec: {taints: []}
status:
  addresses: [{type: InternalIP, address: 198.18.0.13}]
  capacity: {cpu: "2"}
`,
    );
    expect(errorLines(r)).toEqual([]);
    expect(warningLines(r)).toEqual([
      'test.yaml:1: document 1 (Node/n3) ignoring fields this engine does not model: spec.taints, status.capacity',
    ]);
    expect(r.state.nodes.get('n3')!.metadata.labels).toEqual({
      'kubernetes.io/hostname': 'n3',
      'kubernetes.io/os': 'linux',
    });
  });

  it('Namespace: DNS-1123 label names; metadata.name label is automatic; built-ins cannot be deleted', () => {
    expect(errs('apiVersion: v1\nkind: Namespace\nmetadata: {name: a.b}\n')[0]).toMatch(
      /^\(Namespace\/a\.b\) metadata\.name: Invalid value: "a\.b": a lowercase RFC 1123 label/,
    );
    const s = mustApply(policy.emptyState(), [namespace('x', { team: 'a', 'kubernetes.io/metadata.name': 'spoof' })]);
    expect(s.namespaces.get('x')!.metadata.labels).toEqual({ team: 'a', 'kubernetes.io/metadata.name': 'x' });
    const d = policy.deleteObjects(s, [{ kind: 'Namespace', name: 'default' }], T0);
    expect(d.problems.map(policy.formatProblem)).toEqual([
      'namespaces "default" is forbidden: this namespace may not be deleted',
    ]);
  });

  it('Pod: its Namespace and Node exist, its IP is unique and inside its Node Pod CIDR', () => {
    const prev = mustApply(base(), [pod('prod', 'a', 'node-a', '10.10.1.5')]);
    const p = (ns: string, nodeName: string, ip: string) =>
      `apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ${ns}}\nspec: {nodeName: ${nodeName}}\nstatus: {podIP: ${ip}}\n`;
    expect(errs(p('nowhere', 'node-a', '10.10.1.6'), prev)).toEqual([
      '(Pod/nowhere/p) metadata.namespace: namespaces "nowhere" not found',
    ]);
    expect(errs(p('prod', 'node-z', '10.10.1.6'), prev)).toEqual([
      '(Pod/prod/p) spec.nodeName: Node "node-z" not found',
    ]);
    expect(errs(p('prod', 'node-a', '10.10.1.5'), prev)).toEqual([
      '(Pod/prod/p) status.podIP: IP 10.10.1.5 is also the IP of Pod prod/a',
    ]);
    expect(errs(p('prod', 'node-a', '10.10.2.5'), prev)).toEqual([
      '(Pod/prod/p) status.podIP: IP 10.10.2.5 is not inside the Pod CIDR 10.10.1.0/24 of Node node-a',
    ]);
    expect(errs(p('default', 'node-b', '10.10.2.5'), prev)).toEqual([]); // "default" exists implicitly
  });
});

describe('AgentConfig, ConfigMap, ExternalHost', () => {
  it('AgentConfig: transportCIDR required, gates and limits checked, unknown fields rejected', () => {
    const a = (body: string) =>
      `apiVersion: egress-engine/v1alpha1\nkind: AgentConfig\nmetadata: {name: default}\n${body}\n`;
    expect(errs(a('tunnelPort: 6081'))).toEqual([
      '(AgentConfig/default) transportCIDR: Required value: the IPv4 subnet of the L2 segment the Nodes share',
    ]);
    expect(errs(a('transportCIDR: 198.18.0.0/24\nfeatureGates: {Egress: true, Bogus: true}'))).toEqual([
      '(AgentConfig/default) featureGates.Bogus: unrecognized feature gate: Bogus',
    ]);
    expect(errs(a('transportCIDR: 198.18.0.0/24\negress: {maxEgressIPsPerNode: 256}'))).toEqual([
      '(AgentConfig/default) egress.maxEgressIPsPerNode: maxEgressIPsPerNode cannot be greater than 255',
    ]);
    expect(errs(a('transportCIDR: 198.18.0.0/24\negress: {exceptCIDRs: [10.0.0.0/33]}'))).toEqual([
      '(AgentConfig/default) egress.exceptCIDRs[0]: Invalid value: "10.0.0.0/33": must be a CIDR',
    ]);
    expect(errs(a('transportCIDR: 198.18.0.0/24\ntunnelType: vxlan'))).toEqual([
      '(AgentConfig/default) tunnelType: Unsupported value: "vxlan": supported values: "geneve"',
    ]);
    expect(errs(a('transportCIDR: 198.18.0.0/24\ndefaultGateway: 198.19.0.1'))).toEqual([
      '(AgentConfig/default) defaultGateway: Invalid value: "198.19.0.1": must be inside transportCIDR 198.18.0.0/24',
    ]);
    expect(errs(a('transportCIDR: 198.18.0.0/24\ntransportCIDRv6: 198.18.0.0/24'))).toEqual([
      '(AgentConfig/default) transportCIDRv6: Invalid value: "198.18.0.0/24": must be an IPv6 CIDR',
    ]);
    expect(errs(a('transportCIDR: 198.18.0.0/24\ndefaultGatewayv6: 198.18.0.1'))).toEqual([
      '(AgentConfig/default) defaultGatewayv6: Invalid value: "198.18.0.1": must be an IPv6 address',
    ]);
    expect(
      errs(a('transportCIDR: 198.18.0.0/24\ntransportCIDRv6: "2001:2::/64"\ndefaultGatewayv6: "2001:2:1::1"')),
    ).toEqual([
      '(AgentConfig/default) defaultGatewayv6: Invalid value: "2001:2:1::1": must be inside transportCIDRv6 2001:2::/64',
    ]);
    expect(
      errs(a('transportCIDR: 198.18.0.0/24\ntransportCIDRv6: "2001:2::/64"\ndefaultGatewayv6: "2001:2::1"')),
    ).toEqual([]);
    expect(errs(a('transportCIDR: 198.18.0.0/24\novsBridge: br-int'))).toEqual([
      '(AgentConfig/default) ovsBridge: unknown field "ovsBridge"',
    ]);
  });

  it('defaults follow antrea-agent.conf', () => {
    const cfg = policy.resolveConfig(mustApply(policy.emptyState(), [agentConfig()]).config);
    expect(cfg).toMatchObject({
      egressEnabled: true,
      maxEgressIPsPerNode: 255,
      tunnelPort: 6081,
      snatFullyRandomPorts: false,
      mtu: 1500,
      podMtu: 1450,
      exceptCIDRs: [],
      transportCIDR: '198.18.0.0/24',
      defaultGateway: null,
    });
    expect(policy.resolveConfig(null).egressEnabled).toBe(true);
  });

  it('one agent configuration only', () => {
    const cm =
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: antrea-config, namespace: kube-system}\ndata:\n  antrea-agent.conf: ""\n';
    const ac =
      'apiVersion: egress-engine/v1alpha1\nkind: AgentConfig\nmetadata: {name: default}\ntransportCIDR: 198.18.0.0/24\n';
    expect(errs(`${cm}---\n${ac}`)).toEqual([
      '(AgentConfig/default) only one agent configuration (AgentConfig or antrea-config ConfigMap) is allowed; the set already has ConfigMap/kube-system/antrea-config',
    ]);
    expect(errs(cm, base())).toEqual([
      '(ConfigMap/kube-system/antrea-config) the agent configuration is already given by AgentConfig/default: delete it first',
    ]);
    expect(errs('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\ndata: {x: y}\n')).toEqual([
      '(ConfigMap/default/other) data: Required value: only Antrea\'s antrea-config ConfigMap is understood: it needs data["antrea-agent.conf"]',
    ]);
  });

  it('ExternalHost: on the segment, unique, not a Node or pool address', () => {
    const prev = mustApply(base(), [
      {
        apiVersion: 'egress-engine/v1alpha1',
        kind: 'ExternalHost',
        metadata: { name: 'showip' },
        spec: { address: '198.18.0.100/24' },
      },
    ]);
    const h = (name: string, addr: string) =>
      `apiVersion: egress-engine/v1alpha1\nkind: ExternalHost\nmetadata: {name: ${name}}\nspec: {address: "${addr}"}\n`;
    expect(errs(h('x', '198.18.0.100/24'), prev)).toEqual([
      '(ExternalHost/x) spec.address: 198.18.0.100 is also the address of ExternalHost showip',
    ]);
    expect(errs(h('x', '198.18.0.11/24'), prev)).toEqual([
      '(ExternalHost/x) spec.address: 198.18.0.11 is the transport IP of Node node-a',
    ]);
    expect(errs(h('x', '10.1.1.1/24'), prev)).toEqual([
      '(ExternalHost/x) spec.address: 10.1.1.1 is not inside transportCIDR 198.18.0.0/24',
    ]);
    expect(errs(h('x', '198.18.0.7'), prev)).toEqual([
      '(ExternalHost/x) spec.address: Invalid value: "198.18.0.7": must be an IPv4 address with its prefix (198.18.0.100/24)',
    ]);
    expect(errs(h('x', '198.18.0.7/24'))).toEqual([
      '(ExternalHost/x) spec.address: an ExternalHost needs an AgentConfig with transportCIDR (the segment it is on)',
    ]);
    const withPool = mustApply(prev, [pool('seg', [{ start: '198.18.0.200', end: '198.18.0.210' }])]);
    expect(errs(h('x', '198.18.0.205/24'), withPool)).toEqual([
      '(ExternalHost/x) spec.address: 198.18.0.205 is inside ExternalIPPool seg',
    ]);
    expect(prev.externalHosts.get('showip')!.spec.address).toBe('198.18.0.100/24');
  });

  it('ExternalHost ipv6Address: IPv6 with its prefix, unique, not a Node IPv6 address or inside an IPv6 pool', () => {
    const node6 = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'node-6' },
      spec: { podCIDR: '198.18.7.0/24' },
      status: {
        addresses: [
          { type: 'InternalIP', address: '198.18.0.16' },
          { type: 'InternalIP', address: '2001:2::16' },
        ],
      },
    };
    const prev = mustApply(base(), [
      node6,
      pool('v6', [{ start: '2001:2::fd', end: '2001:2::fe' }]),
      {
        apiVersion: 'egress-engine/v1alpha1',
        kind: 'ExternalHost',
        metadata: { name: 'showip' },
        spec: { address: '198.18.0.100/24', ipv6Address: '2001:2::100/64' },
      },
    ]);
    expect(prev.externalHosts.get('showip')!.spec.ipv6Address).toBe('2001:2::100/64');
    const h = (addr6: string) =>
      `apiVersion: egress-engine/v1alpha1\nkind: ExternalHost\nmetadata: {name: x}\nspec: {address: "198.18.0.101/24", ipv6Address: "${addr6}"}\n`;
    expect(errs(h('2001:2::101/64'), prev)).toEqual([]);
    expect(errs(h('2001:2:0::100/64'), prev)).toEqual([
      '(ExternalHost/x) spec.ipv6Address: 2001:2::100 is also the address of ExternalHost showip',
    ]);
    expect(errs(h('2001:2::16/64'), prev)).toEqual([
      '(ExternalHost/x) spec.ipv6Address: 2001:2::16 is the IPv6 address of Node node-6',
    ]);
    expect(errs(h('2001:2::fe/64'), prev)).toEqual([
      '(ExternalHost/x) spec.ipv6Address: 2001:2::fe is inside ExternalIPPool v6',
    ]);
    for (const bad of ['2001:2::101', '198.18.0.102/24'])
      expect(errs(h(bad), prev)).toEqual([
        `(ExternalHost/x) spec.ipv6Address: Invalid value: "${bad}": must be an IPv6 address with its prefix (2001:2::100/64)`,
      ]);
    // An IPv6 egressIP that is the host's address is refused as an IPv4 one is.
    expect(errs(egressYaml('  appliedTo: {podSelector: {}}\n  egressIP: 2001:2::100'), prev).join('\n')).toMatch(
      /IP 2001:2::100 is the address of ExternalHost showip/,
    );
  });
});

describe('set semantics', () => {
  it('rejects an object defined twice in one set', () => {
    expect(
      errs(
        'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n',
      ),
    ).toEqual(['(Namespace/a) metadata.name: Namespace a is defined twice in the set (also test.yaml:1)']);
  });

  it('does not depend on document order (an Egress before its pool)', () => {
    const r = applyYAML(
      policy.emptyState(),
      egressYaml('  appliedTo: {podSelector: {}}\n  egressIP: 10.9.0.1\n  externalIPPool: p') +
        '---\n' +
        poolYaml('p', '  ipRanges: [{cidr: 10.9.0.0/30}]\n  nodeSelector: {}'),
    );
    expect(errorLines(r)).toEqual([]);
    expect(r.state.pools.get('p')!.status.usage).toEqual({ total: 2, used: 1 });
  });

  it('re-applying the same content changes nothing', () => {
    const s = base();
    const r = policy.applyObjects(s, [node('node-a', '198.18.0.11', { podCIDR: '10.10.1.0/24' })], T0);
    expect(r.changed).toBe(false);
    expect(r.changes).toEqual([{ kind: 'Node', name: 'node-a', action: 'unchanged' }]);
    expect(r.state).toBe(s);
  });

  it('a List document is expanded into its items', () => {
    const r = applyYAML(
      policy.emptyState(),
      'apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: "B"}\n',
    );
    expect(errorLines(r)[0]).toMatch(/^test\.yaml:9: document 1 \(Namespace\/B\) metadata\.name: Invalid value: "B"/);
  });
});
