/**
 * The address plan (issue 11 finding 9 and its neighbours): every address of the segment has one ARP owner, a
 * pool never holds an address somebody else owns, Pod IPs are neither on the segment nor egress IPs, and the
 * gateway can never become an egress IP (so no GARP for it). Each case is refused with the usual
 * `file:line: document N (Kind/name) field: message` line and changes nothing; the cases Antrea's e2e relies on
 * stay allowed. Expected CRC-32 values come from Python's zlib, not from our code.
 */
import { describe, expect, it } from 'vitest';
import * as policy from '../../engine/policy/index.js';
import { T0, agentConfig, applyYAML, egress, errorLines, mustApply, namespace, node, pod, pool } from './helpers.js';
import { pyCrc32 } from './python.js';

/** Errors of applying objects on top of `prev`, without the "file:line: document N" prefix. */
function errs(prev: policy.ClusterState, objects: unknown[]): string[] {
  const r = policy.applyObjects(prev, objects, T0);
  if (policy.errorsOf(r.problems).length > 0) expect(r.state).toBe(prev); // nothing applied
  return errorLines(r).map((l) => l.replace(/^<objects>:\d+: document \d+ /, ''));
}

/** Segment 198.18.0.0/24, gateway .1; two Nodes; a pool of .200-.209 handing IPs to Egresses. */
const base = () =>
  mustApply(policy.emptyState(), [
    agentConfig({ defaultGateway: '198.18.0.1' }),
    node('node-a', '198.18.0.11', { podCIDR: '198.19.1.0/24' }),
    node('node-b', '198.18.0.12', { podCIDR: '198.19.2.0/24' }),
    namespace('prod'),
    pool('pool-a', [{ start: '198.18.0.200', end: '198.18.0.209' }]),
    egress('from-pool', { externalIPPool: 'pool-a' }), // allocated 198.18.0.200
  ]);

describe('static egress IPs and pools', () => {
  it('the pool allocated .200 (the premise of the cases below)', () => {
    expect(base().egresses.get('from-pool')!.spec.egressIP).toBe('198.18.0.200');
  });

  it('refuses a static egressIP a pool allocated to another Egress (two ARP owners forever)', () => {
    expect(errs(base(), [egress('st', { egressIP: '198.18.0.200' })])).toEqual([
      '(Egress/st) spec.egressIP: IP 198.18.0.200 is inside ExternalIPPool pool-a, which may allocate it to another Egress: a static egressIP must be outside every pool (or name the pool in externalIPPool)',
    ]);
  });

  it('refuses a static egressIP a pool could still hand out, and a pool created over a static one', () => {
    expect(errs(base(), [egress('st', { egressIP: '198.18.0.205' })])).toEqual([
      '(Egress/st) spec.egressIP: IP 198.18.0.205 is inside ExternalIPPool pool-a, which may allocate it to another Egress: a static egressIP must be outside every pool (or name the pool in externalIPPool)',
    ]);
    const s = mustApply(base(), [
      node('node-c', '198.18.0.13', { annotations: { 'egress-engine.io/static-egress-ips': '198.18.0.150' } }),
      egress('st', { egressIP: '198.18.0.150' }),
    ]);
    // The pool is the new object; the stored Egress and Node say why (without a file: they are not in the set).
    expect(errs(s, [pool('pool-b', [{ cidr: '198.18.0.144/28' }])])).toEqual([
      '(ExternalIPPool/pool-b) spec.ipRanges[0]: range [198.18.0.144/28] contains 198.18.0.150, a static Egress IP of Node node-c',
      '(Egress/st) spec.egressIP: IP 198.18.0.150 is inside ExternalIPPool pool-b, which may allocate it to another Egress: a static egressIP must be outside every pool (or name the pool in externalIPPool)',
    ]);
  });

  it("a static egressIP that is a Node's own transport IP stays allowed (Antrea's e2e testEgressClientIP)", () => {
    const r = policy.applyObjects(base(), [egress('own', { egressIP: '198.18.0.12' })], T0);
    expect(errorLines(r)).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it("refuses a pool egressIP that is a Node's transport IP, and a range holding one", () => {
    const s = mustApply(base(), [pool('wide', [{ start: '198.18.0.220', end: '198.18.0.229' }])]);
    expect(errs(s, [node('node-c', '198.18.0.225')])).toEqual([
      '(ExternalIPPool/wide) spec.ipRanges[0]: range [198.18.0.220-198.18.0.229] contains 198.18.0.225, the transport IP of Node node-c: the pool may hand it out',
    ]);
    expect(errs(base(), [pool('nodes', [{ cidr: '198.18.0.8/29' }])])).toEqual([
      '(ExternalIPPool/nodes) spec.ipRanges[0]: range [198.18.0.8/29] contains 198.18.0.11, the transport IP of Node node-a: the pool may hand it out',
      '(ExternalIPPool/nodes) spec.ipRanges[0]: range [198.18.0.8/29] contains 198.18.0.12, the transport IP of Node node-b: the pool may hand it out',
    ]);
  });
});

describe('the gateway is never an egress IP', () => {
  it('refuses a static egressIP, a Node static IP or a pool range that is the segment gateway', () => {
    expect(errs(base(), [egress('gw', { egressIP: '198.18.0.1' })])).toEqual([
      "(Egress/gw) spec.egressIP: IP 198.18.0.1 is the segment's defaultGateway",
    ]);
    expect(
      errs(base(), [
        node('node-c', '198.18.0.13', { annotations: { 'egress-engine.io/static-egress-ips': '198.18.0.1' } }),
      ]),
    ).toEqual([
      "(Node/node-c) metadata.annotations[egress-engine.io/static-egress-ips]: static Egress IP 198.18.0.1 is the segment's defaultGateway",
    ]);
    expect(errs(base(), [pool('low', [{ cidr: '198.18.0.0/30' }])])).toEqual([
      "(ExternalIPPool/low) spec.ipRanges[0]: range [198.18.0.0/30] contains the segment's defaultGateway 198.18.0.1: the pool may hand it out",
    ]);
  });

  it('refuses moving the defaultGateway onto an address a pool allocated', () => {
    expect(errs(base(), [agentConfig({ defaultGateway: '198.18.0.200' })])).toEqual([
      "(ExternalIPPool/pool-a) spec.ipRanges[0]: range [198.18.0.200-198.18.0.209] contains the segment's defaultGateway 198.18.0.200: the pool may hand it out",
      "(Egress/from-pool) spec.egressIP: IP 198.18.0.200 is the segment's defaultGateway",
    ]);
  });

  it("refuses a pinned egressIP that is its pool's subnetInfo.gateway (reserved, but the agents would announce it)", () => {
    const vlan = pool(
      'vlan',
      [{ start: '198.18.5.1', end: '198.18.5.9' }],
      {},
      {
        subnetInfo: { gateway: '198.18.5.1', prefixLength: 24 },
      },
    );
    const s = mustApply(base(), [vlan]);
    expect(errs(s, [egress('pin', { externalIPPool: 'vlan', egressIP: '198.18.5.1' })])).toEqual([
      '(Egress/pin) spec.egressIP: IP 198.18.5.1 is the subnetInfo.gateway of ExternalIPPool vlan',
    ]);
    expect(errs(s, [egress('st', { egressIP: '198.18.5.1' })])[0]).toBe(
      '(Egress/st) spec.egressIP: IP 198.18.5.1 is inside ExternalIPPool vlan, which may allocate it to another Egress: a static egressIP must be outside every pool (or name the pool in externalIPPool)',
    );
  });

  it('no path left: every egress IP of a valid state differs from the gateway', () => {
    // Auto allocation from a pool that starts at the gateway would have handed it out first; the pool is refused.
    const r = policy.applyObjects(base(), [pool('first', [{ start: '198.18.0.1', end: '198.18.0.3' }])], T0);
    expect(r.ok).toBe(false);
    for (const e of base().egresses.values()) expect(e.spec.egressIP).not.toBe('198.18.0.1');
  });
});

describe('external hosts and Pods', () => {
  const host = (name: string, address: string) => ({
    apiVersion: 'egress-engine/v1alpha1',
    kind: 'ExternalHost',
    metadata: { name },
    spec: { address },
  });

  it('refuses an egressIP that is an ExternalHost address', () => {
    const s = mustApply(base(), [host('showip', '198.18.0.100/24')]);
    expect(errs(s, [egress('st', { egressIP: '198.18.0.100' })])).toEqual([
      '(Egress/st) spec.egressIP: IP 198.18.0.100 is the address of ExternalHost showip',
    ]);
  });

  it('refuses a Pod IP on the segment, inside a pool, a static egress IP, or in another Node Pod CIDR', () => {
    const s = mustApply(base(), [
      node('bare', '198.18.0.20', { annotations: { 'egress-engine.io/static-egress-ips': '198.18.7.7' } }),
    ]);
    expect(errs(s, [pod('prod', 'p', 'bare', '198.18.0.50')])).toEqual([
      '(Pod/prod/p) status.podIP: IP 198.18.0.50 is inside transportCIDR 198.18.0.0/24: Pod IPs are not on the segment',
    ]);
    expect(errs(s, [pod('prod', 'p', 'bare', '198.18.0.201')])).toEqual([
      '(Pod/prod/p) status.podIP: IP 198.18.0.201 is inside transportCIDR 198.18.0.0/24: Pod IPs are not on the segment',
      '(Pod/prod/p) status.podIP: IP 198.18.0.201 is inside ExternalIPPool pool-a',
    ]);
    expect(errs(s, [pod('prod', 'p', 'bare', '198.18.7.7')])).toEqual([
      '(Pod/prod/p) status.podIP: IP 198.18.7.7 is a static Egress IP of Node bare',
    ]);
    expect(errs(s, [pod('prod', 'p', 'bare', '198.19.1.9')])).toEqual([
      '(Pod/prod/p) status.podIP: IP 198.19.1.9 is inside the Pod CIDR 198.19.1.0/24 of Node node-a',
    ]);
    // A Pod of a Node without Pod CIDR, elsewhere: allowed.
    expect(errs(s, [pod('prod', 'p', 'bare', '198.19.200.9')])).toEqual([]);
  });

  it("refuses an egressIP that is a Pod's IP or inside a Pod CIDR, and a pool overlapping a Pod CIDR", () => {
    const s = mustApply(base(), [pod('prod', 'web', 'node-a', '198.19.1.10')]);
    expect(errs(s, [egress('st', { egressIP: '198.19.1.10' })])).toEqual([
      '(Egress/st) spec.egressIP: IP 198.19.1.10 is the IP of Pod prod/web',
    ]);
    expect(errs(s, [egress('st', { egressIP: '198.19.2.77' })])).toEqual([
      '(Egress/st) spec.egressIP: IP 198.19.2.77 is inside the Pod CIDR 198.19.2.0/24 of Node node-b',
    ]);
    expect(errs(s, [pool('pods', [{ cidr: '198.19.2.128/25' }])])).toEqual([
      '(ExternalIPPool/pods) spec.ipRanges[0]: range [198.19.2.128/25] overlaps the Pod CIDR 198.19.2.0/24 of Node node-b',
    ]);
  });
});

describe('Nodes and stored sets', () => {
  it('refuses two Nodes sharing a transport IP, in either order, with one line', () => {
    expect(errs(base(), [node('node-c', '198.18.0.11')])).toEqual([
      '(Node/node-c) status.addresses: InternalIP 198.18.0.11 is also the transport IP of Node node-a',
    ]);
    expect(errs(policy.emptyState(), [agentConfig(), node('x', '198.18.0.30'), node('y', '198.18.0.30')])).toEqual([
      '(Node/y) status.addresses: InternalIP 198.18.0.30 is also the transport IP of Node x',
    ]);
  });

  it('a stored set whose pools overlap (the webhook bypassed) is refused by the whole-set check', () => {
    const ok = mustApply(base(), [pool('pool-b', [{ start: '198.18.0.210', end: '198.18.0.219' }])]);
    // Edit the stored state as a hand-written objects.json would, then validate it as a whole.
    const b = ok.pools.get('pool-b')!;
    const edited: policy.ClusterState = {
      ...ok,
      pools: new Map(ok.pools).set('pool-b', { ...b, spec: { ...b.spec, ipRanges: [{ cidr: '198.18.0.192/27' }] } }),
    };
    const problems: policy.Problem[] = [];
    policy.crossCheck(
      edited,
      (o) => new policy.Ctx(problems, null, o.kind, policy.displayName(o)),
      () => false,
    );
    expect(policy.errorsOf(problems).map(policy.formatProblem)).toEqual([
      '(ExternalIPPool/pool-b) spec.ipRanges[0]: range [198.18.0.192/27] overlaps with range [198.18.0.200-198.18.0.209] of ExternalIPPool pool-a',
    ]);
  });
});

describe('Pod network namespace names (egr-<CRC-32 of namespace/name>)', () => {
  // Found by a small search (random 8-character suffixes); zlib confirms the collision below.
  const A = 'web-o16ztj0g';
  const B = 'web-yd5cous7';

  it('the pair collides (zlib.crc32), so the agents would give both Pods one namespace', () => {
    const [a, b] = pyCrc32([`prod/${A}`, `prod/${B}`]);
    expect(a).toBe(b);
    expect(policy.crc32String(`prod/${A}`)).toBe(a);
  });

  it('refuses the second Pod with a clear message, in one set or across applies', () => {
    const hex = pyCrc32([`prod/${A}`])[0]!
      .toString(16)
      .padStart(8, '0');
    const msg = `(Pod/prod/${B}) metadata.name: Pod prod/${B} would get the network namespace egr-${hex} of Pod prod/${A} (the same CRC-32 of namespace/name): rename one of them`;
    expect(errs(base(), [pod('prod', A, 'node-a', '198.19.1.20'), pod('prod', B, 'node-b', '198.19.2.20')])).toEqual([
      msg,
    ]);
    const s = mustApply(base(), [pod('prod', A, 'node-a', '198.19.1.20')]);
    expect(errs(s, [pod('prod', B, 'node-b', '198.19.2.20')])).toEqual([msg]);
    // Pods without a datapath (hostNetwork) get no namespace: no conflict.
    expect(errs(s, [pod('prod', B, 'node-b', '198.18.0.12', {}, true)])).toEqual([]);
  });
});

describe('line numbers', () => {
  it('a refused egressIP points at its line', () => {
    const r = applyYAML(
      base(),
      'apiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata: {name: st}\nspec:\n  appliedTo: {podSelector: {}}\n  egressIP: 198.18.0.1\n',
    );
    expect(errorLines(r)).toEqual([
      "test.yaml:6: document 1 (Egress/st) spec.egressIP: IP 198.18.0.1 is the segment's defaultGateway",
    ]);
  });
});
