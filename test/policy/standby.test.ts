/**
 * The standby of an egress IP: the Node that would own it if its owner died. Expected values come from the hash
 * ring built by hand (the pool's members, minus the owner), not from the scheduler the code reuses.
 */
import { describe, expect, it } from 'vitest';
import * as policy from '../../engine/policy/index.js';
import { agentConfig, egress, mustApply, namespace, node, pod, pool } from './helpers.js';

const NODES = ['node0', 'node1', 'node2', 'node3'];
const hostname = (...names: string[]) => ({
  matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: names }],
});

function cluster(extra: unknown[], config: Record<string, unknown> = {}): policy.ClusterState {
  return mustApply(policy.emptyState(), [
    agentConfig(config),
    ...NODES.map((n, i) =>
      node(n, `198.18.0.${10 + i}`, { podCIDR: `10.10.${i}.0/24`, labels: { zone: i < 2 ? 'a' : 'b' } }),
    ),
    namespace('e2e'),
    pod('e2e', 'client', 'node0', '10.10.0.5', { app: 'web' }),
    ...extra,
  ]);
}

/** The ring answer written out: members of the selector, alive, without `owner`. */
function byHand(members: string[], ip: string, owner: string): string {
  return new policy.HashRing(members.filter((n) => n !== owner)).get(ip);
}

describe('standbys', () => {
  const ips = Array.from({ length: 12 }, (_, i) => `169.254.200.${i + 1}`);
  const s = cluster([
    pool('all', [{ cidr: '169.254.200.0/28' }]),
    ...ips.map((ip, i) => egress(`e${i}`, { externalIPPool: 'all', egressIP: ip })),
  ]);

  it('is the ring without the owner, for every IP', () => {
    const alive = new Set(NODES);
    const sb = policy.standbys(s, alive);
    expect([...sb.keys()].sort()).toEqual([...ips].sort());
    for (const ip of ips) {
      const owner = new policy.HashRing(NODES).get(ip);
      expect(sb.get(ip)).toEqual({ ip, owner, standby: byHand(NODES, ip, owner) });
      expect(sb.get(ip)!.standby).not.toBe(owner);
    }
  });

  it('is the node that takes the IP over when the owner dies', () => {
    const alive = new Set(NODES);
    const sb = policy.standbys(s, alive);
    for (const ip of ips) {
      const { owner, standby } = sb.get(ip)!;
      const after = new Set(NODES.filter((n) => n !== owner));
      const i = ips.indexOf(ip);
      const r = policy.schedule(s, after).get(`e${i}`);
      expect(r).toEqual({ ok: true, ip, node: standby });
    }
  });

  it('skips dead nodes and honours the nodeSelector', () => {
    const sel = cluster([
      pool('zone-a', [{ cidr: '169.254.201.0/28' }], { matchLabels: { zone: 'a' } }),
      egress('a1', { externalIPPool: 'zone-a', egressIP: '169.254.201.1' }),
      pool('solo', [{ cidr: '169.254.202.0/28' }], hostname('node3')),
      egress('s1', { externalIPPool: 'solo', egressIP: '169.254.202.1' }),
    ]);
    const sb = policy.standbys(sel, new Set(NODES));
    const a = sb.get('169.254.201.1')!;
    expect(['node0', 'node1']).toContain(a.owner);
    expect(a.standby).toBe(a.owner === 'node0' ? 'node1' : 'node0');
    expect(sb.get('169.254.202.1')).toEqual({ ip: '169.254.202.1', owner: 'node3', standby: '' });
    // The other zone-a node dead: no standby (zone b nodes never qualify).
    const other = a.owner === 'node0' ? 'node1' : 'node0';
    const alive = new Set(NODES.filter((n) => n !== other));
    expect(policy.standbys(sel, alive).get('169.254.201.1')).toEqual({
      ip: '169.254.201.1',
      owner: a.owner,
      standby: '',
    });
    expect(policy.standbyOf(sel, alive, '169.254.202.1')).toBe('');
    expect(policy.standbyOf(sel, alive, '169.254.9.9')).toBe('');
  });

  it('honours capacity: a full node is not the standby', () => {
    // One IP per node: the standby of each IP must be a node that would still have room without the owner.
    const c = cluster(
      [
        pool('cap', [{ cidr: '169.254.203.0/28' }]),
        egress('c1', { externalIPPool: 'cap', egressIP: '169.254.203.1' }),
        egress('c2', { externalIPPool: 'cap', egressIP: '169.254.203.2' }),
      ],
      { egress: { maxEgressIPsPerNode: 1 } },
    );
    const sb = policy.standbys(c, new Set(NODES));
    const e1 = sb.get('169.254.203.1')!;
    const e2 = sb.get('169.254.203.2')!;
    expect(e1.owner).not.toBe(e2.owner);
    // The standby of c1 never holds c2 after c1's owner dies (c1 is older and is placed first, so c2 may move).
    const after = policy.schedule(c, new Set(NODES.filter((n) => n !== e1.owner)));
    expect(after.get('c1')).toEqual({ ok: true, ip: e1.ip, node: e1.standby });
    const c2 = after.get('c2')!;
    expect(c2.ok).toBe(true);
    expect(c2.ok ? c2.node : '').not.toBe(e1.standby);
  });
});
