/**
 * Cases of Antrea's controllers: pkg/controller/egress/controller_test.go (group membership, IP allocation, the
 * IPAllocated condition) and pkg/controller/externalippool/controller_test.go (allocation, release, usage), through
 * `egress apply/delete/get`.
 */
import { describe, expect } from 'vitest';
import { Cluster, agentConfig, cidr, differs, egressObj, holds, namespace, node, pod, pool, range } from './harness.js';
import type { Range, Ref } from './harness.js';

type Doc = Record<string, unknown>;

const EGRESS_CTL = 'pkg/controller/egress/controller_test.go';
const POOL_CTL = 'pkg/controller/externalippool/controller_test.go';
const ctl = (test: string): Ref => ({ file: EGRESS_CTL, test });
const pctl = (test: string): Ref => ({ file: POOL_CTL, test });

const NODES = [
  node('node1', '198.18.0.11', { podCIDR: '198.19.1.0/24' }),
  node('node2', '198.18.0.12', { podCIDR: '198.19.2.0/24' }),
  node('node3', '198.18.0.13', { podCIDR: '198.19.3.0/24' }),
];
/** TestAddEgress's Pods (addresses moved off the pool: here a Pod IP inside a pool is refused). */
const PODS = [
  namespace('default', { company: 'default' }),
  namespace('other', { company: 'other' }),
  pod('default', 'podfoo1', { app: 'foo' }, 'node1', '198.19.1.1'),
  pod('default', 'podfoo2', { app: 'foo' }, 'node2', '198.19.2.1'),
  pod('default', 'podbar1', { app: 'bar' }, 'node1', '198.19.1.2'),
  pod('other', 'podfoo1', { app: 'foo' }, 'node1', '198.19.1.3'),
  pod('default', 'podunscheduled', { app: 'foo' }, '', ''),
  pod('default', 'podnonip', { app: 'foo' }, 'node1', ''),
  pod('default', 'podhostnetwork', { app: 'bar' }, 'node1', '198.18.0.11', { hostNetwork: true }),
  pod('default', 'succeeded-pod', { app: 'foo' }, 'node1', '198.19.1.5', { phase: 'Succeeded' }),
  pod('default', 'failed-pod', { app: 'foo' }, 'node1', '198.19.1.6', { phase: 'Failed' }),
];
const POOL1 = pool('pool1', [cidr('1.1.1.0/24')]);

async function cluster(...docs: Record<string, unknown>[]): Promise<Cluster> {
  const c = new Cluster();
  await c.ok([agentConfig(), ...NODES, ...docs]);
  return c;
}

/** An IPAllocated=False AllocationError condition with Antrea's message prefix (the error text is ours). */
const allocationFailed = (conditions: readonly string[]) =>
  conditions.some((x) =>
    x.startsWith('IPAllocated False AllocationError Cannot allocate EgressIP from ExternalIPPool: '),
  );

/** Pods whose EGRESS column names `egress` (`egress get pods -o wide`). */
async function members(c: Cluster, egress: string): Promise<string[]> {
  return [...(await c.podEgress())]
    .filter(([, e]) => e === egress)
    .map(([p]) => p)
    .sort();
}

export function controllerCases(): void {
  describe('Egress controller: group membership (TestAddEgress)', () => {
    const add = (name: string) => ctl(`TestAddEgress/${name}`);
    const cases: [string, Record<string, unknown>, string[]][] = [
      [
        'Egress with podSelector and namespaceSelector',
        { podSelector: { matchLabels: { app: 'foo' } }, namespaceSelector: { matchLabels: { company: 'default' } } },
        ['default/podfoo1', 'default/podfoo2'],
      ],
      [
        'Egress with namespaceSelector',
        { namespaceSelector: { matchLabels: { company: 'default' } } },
        ['default/podbar1', 'default/podfoo1', 'default/podfoo2'],
      ],
      [
        'Egress with podSelector',
        { podSelector: { matchLabels: { app: 'foo' } } },
        ['default/podfoo1', 'default/podfoo2', 'other/podfoo1'],
      ],
    ];
    for (const [name, appliedTo, want] of cases) {
      holds(add(name), 'members: scheduled, not hostNetwork, not Succeeded/Failed', async () => {
        const c = await cluster(...PODS, egressObj('egressa', { egressIP: '198.18.0.11', appliedTo }));
        expect(await members(c, 'egressa')).toEqual(want);
      });
    }
    holds(add('Egress with podSelector and empty EgressIP'), 'IP 1.1.1.1 allocated from the pool, used 1', async () => {
      const c = await cluster(
        ...PODS,
        POOL1,
        egressObj('egressa', { externalIPPool: 'pool1', appliedTo: { podSelector: { matchLabels: { app: 'foo' } } } }),
      );
      expect((await c.egresses()).get('egressa')!.specIP).toBe('1.1.1.1');
      expect((await c.usage()).get('pool1')!.used).toBe(1);
      expect(await members(c, 'egressa')).toEqual(['default/podfoo1', 'default/podfoo2', 'other/podfoo1']);
    });
    differs(
      add('Egress with podSelector'),
      'a scheduled Pod without an IP (podNonIP) is no member',
      'Antrea lists it in the EgressGroup; a Pod without an IPv4 address has no datapath here, so it is not counted as selected (docs/semantics.md §1.1).',
      async () => {
        const c = await cluster(
          ...PODS,
          egressObj('egressa', {
            egressIP: '198.18.0.11',
            appliedTo: { podSelector: { matchLabels: { app: 'foo' } } },
          }),
        );
        expect(await members(c, 'egressa')).not.toContain('default/podnonip');
      },
    );
  });

  describe('Egress controller: IP allocation (TestSyncEgressIP, TestUpdateEgress, TestRecreateExternalIPPoolWithNewRange)', () => {
    const sync = (name: string) => ctl(`TestSyncEgressIP/${name}`);
    const e = (name: string, egressIP?: string) =>
      egressObj(name, egressIP === undefined ? { externalIPPool: 'ippoola' } : { egressIP, externalIPPool: 'ippoola' });
    // name, title, the pool's ranges, existing Egresses, the input Egress, its expected egressIP, the pool's used.
    const rows: [string, string, Range[], Doc[], Doc, string, number][] = [
      [
        'Egress with empty EgressIP and existing ExternalIPPool',
        'the second range once the first is full',
        [cidr('1.1.1.0/30'), range('1.1.2.10', '1.1.2.20')],
        [e('egressa', '1.1.1.1'), e('egressb', '1.1.1.2')],
        e('egressc'),
        '1.1.2.10',
        3,
      ],
      [
        '[IPv6]Egress with empty EgressIP and proper ExternalIPPool',
        'the first address of a /124',
        [cidr('2021:2::aaa0/124')],
        [],
        e('egressa'),
        '2021:2::aaa1',
        1,
      ],
      [
        'Egress with non-empty EgressIP and proper ExternalIPPool',
        'kept',
        [cidr('1.1.1.0/24')],
        [],
        e('egressa', '1.1.1.2'),
        '1.1.1.2',
        1,
      ],
      [
        'Egress with updated EgressIP',
        'the new IP, the old one released',
        [cidr('1.1.1.0/24')],
        [e('egressa', '1.1.1.2')],
        e('egressa', '1.1.1.3'),
        '1.1.1.3',
        1,
      ],
      [
        'Egress with unchanged EgressIP',
        'kept',
        [cidr('1.1.1.0/24')],
        [e('egressa', '1.1.1.2')],
        e('egressa', '1.1.1.2'),
        '1.1.1.2',
        1,
      ],
    ];
    for (const [name, title, ranges, existing, input, ip, used] of rows) {
      holds(sync(name), `${title}: ${ip}, used ${used}`, async () => {
        const c = await cluster(pool('ippoola', ranges), ...existing);
        await c.ok([input]);
        const inputName = (input['metadata'] as { name: string }).name;
        expect((await c.egresses()).get(inputName)!.specIP).toBe(ip);
        expect((await c.usage()).get('ippoola')!.used).toBe(used);
      });
    }
    holds(
      sync('Egress with empty EgressIP and non-existing ExternalIPPool'),
      'no IP, IPAllocated=False, used 0',
      async () => {
        const c = await cluster(
          pool('ippoola', [cidr('1.1.1.0/24')]),
          egressObj('egressa', { externalIPPool: 'ippoolb' }),
        );
        const e = (await c.egresses()).get('egressa')!;
        expect(e.specIP).toBe('');
        expect(e.conditions).toContain(
          'IPAllocated False AllocationError Cannot allocate EgressIP from ExternalIPPool: ExternalIPPool ippoolb does not exist',
        );
        expect((await c.usage()).get('ippoola')!.used).toBe(0);
      },
    );
    holds(
      sync('Egress with non-empty EgressIP and improper ExternalIPPool'),
      'an error (the webhook refuses it), used 0',
      async () => {
        const c = await cluster(pool('ippoola', [cidr('1.1.1.0/24')]));
        expect(await c.refused([egressObj('egressa', { egressIP: '1.1.2.2', externalIPPool: 'ippoola' })])).toContain(
          'IP 1.1.2.2 is not within the IP range',
        );
        expect((await c.usage()).get('ippoola')!.used).toBe(0);
      },
    );
    holds(sync('Egress with conflicting EgressIP'), 'the second Egress gets IPAllocated=False, used 1', async () => {
      const c = await cluster(
        pool('ippoola', [cidr('1.1.1.0/24')]),
        egressObj('egressa', { egressIP: '1.1.1.2', externalIPPool: 'ippoola' }),
      );
      await c.ok([egressObj('egressb', { egressIP: '1.1.1.2', externalIPPool: 'ippoola' })]);
      const b = (await c.egresses()).get('egressb')!;
      expect(allocationFailed(b.conditions)).toBe(true);
      expect((await c.usage()).get('ippoola')!.used).toBe(1);
    });
    holds(
      sync('Egress with empty ExternalIPPool'),
      'a static Egress: no allocation, no IPAllocated condition',
      async () => {
        const c = await cluster(
          pool('ippoola', [cidr('1.1.1.0/24')]),
          egressObj('egressa', { egressIP: '198.18.0.11' }),
        );
        const e = (await c.egresses()).get('egressa')!;
        expect(e.specIP).toBe('198.18.0.11');
        expect(e.conditions.filter((x) => x.startsWith('IPAllocated'))).toEqual([]);
        expect((await c.usage()).get('ippoola')!.used).toBe(0);
      },
    );
    holds(
      ctl('TestUpdateEgress'),
      'pool changed → reallocated, pool deleted → IP cleared, recreated → allocated, Egress deleted → released',
      async () => {
        const foo = { podSelector: { matchLabels: { app: 'foo' } } };
        const pool2 = pool('pool2', [range('2.2.2.10', '2.2.2.20')]);
        const c = await cluster(POOL1, pool2, egressObj('egressa', { externalIPPool: 'pool1', appliedTo: foo }));
        expect((await c.egresses()).get('egressa')!.specIP).toBe('1.1.1.1');
        await c.ok([egressObj('egressa', { externalIPPool: 'pool2', appliedTo: foo })]);
        expect((await c.egresses()).get('egressa')!.specIP).toBe('2.2.2.10');
        expect((await c.usage()).get('pool1')!.used).toBe(0);
        expect((await c.usage()).get('pool2')!.used).toBe(1);
        expect((await c.delete('externalippool', 'pool2')).code).toBe(0);
        expect((await c.egresses()).get('egressa')!.specIP).toBe('');
        await c.ok([pool2]);
        expect((await c.egresses()).get('egressa')!.specIP).toBe('2.2.2.10');
        expect((await c.usage()).get('pool2')!.used).toBe(1);
        expect((await c.delete('egress', 'egressa')).code).toBe(0);
        expect((await c.usage()).get('pool2')!.used).toBe(0);
      },
    );
    holds(
      ctl('TestRecreateExternalIPPoolWithNewRange'),
      'a pool recreated with another range: the IP comes from the new range',
      async () => {
        const c = await cluster(POOL1, egressObj('egressa', { externalIPPool: 'pool1' }));
        expect((await c.egresses()).get('egressa')!.specIP).toBe('1.1.1.1');
        expect((await c.delete('externalippool', 'pool1')).code).toBe(0);
        await c.ok([pool('pool1', [cidr('1.1.2.0/24')])]);
        expect((await c.egresses()).get('egressa')!.specIP).toBe('1.1.2.1');
      },
    );
  });

  describe('Egress controller: IPAllocated condition (TestUpdateEgressAllocatedCondition)', () => {
    const cond = (name: string) => ctl(`TestUpdateEgressAllocatedCondition/${name}`);
    holds(cond('allocating IP succeeds'), 'IPAllocated=True Allocated', async () => {
      const c = await cluster(POOL1, egressObj('egressa', { externalIPPool: 'pool1' }));
      expect((await c.egresses()).get('egressa')!.conditions).toContain(
        'IPAllocated True Allocated EgressIP is successfully allocated',
      );
    });
    holds(cond('allocating IP fails'), 'IPAllocated=False AllocationError on an exhausted pool', async () => {
      const c = await cluster(
        pool('small', [range('1.1.1.10', '1.1.1.10')]),
        egressObj('egressa', { externalIPPool: 'small' }),
      );
      await c.ok([egressObj('egressb', { externalIPPool: 'small' })]);
      const b = (await c.egresses()).get('egressb')!;
      expect(b.specIP).toBe('');
      expect(allocationFailed(b.conditions)).toBe(true);
    });
    holds(cond('updating condition succeeds'), 'False becomes True once an IP is free', async () => {
      const c = await cluster(
        pool('small', [range('1.1.1.10', '1.1.1.10')]),
        egressObj('egressa', { externalIPPool: 'small' }),
      );
      await c.ok([egressObj('egressb', { externalIPPool: 'small' })]);
      expect((await c.delete('egress', 'egressa')).code).toBe(0);
      const b = (await c.egresses()).get('egressb')!;
      expect(b.specIP).toBe('1.1.1.10');
      expect(b.conditions).toContain('IPAllocated True Allocated EgressIP is successfully allocated');
    });
    holds(
      cond('removing condition succeeds'),
      'an Egress that leaves its pool loses IPAllocated and keeps the others',
      async () => {
        const c = await cluster(POOL1, egressObj('egressa', { externalIPPool: 'pool1' }));
        await c.ok([egressObj('egressa', { egressIP: '198.18.0.11' })]);
        const e = (await c.egresses()).get('egressa')!;
        expect(e.conditions.filter((x) => x.startsWith('IPAllocated'))).toEqual([]);
      },
    );
  });

  describe('ExternalIPPool controller (TestAllocateIPFromPool, TestReleaseIP, TestIPPoolHasIP, RestoreIPAllocations)', () => {
    holds(
      pctl('TestAllocateIPFromPool/allocate from proper IP pool'),
      '10.10.10.2 of 10.10.10.2-10.10.10.3: total 2, used 1',
      async () => {
        const c = await cluster(
          pool('eip1', [range('10.10.10.2', '10.10.10.3')]),
          egressObj('e1', { externalIPPool: 'eip1' }),
        );
        expect((await c.egresses()).get('e1')!.specIP).toBe('10.10.10.2');
        expect((await c.usage()).get('eip1')).toEqual({ total: 2, used: 1 });
      },
    );
    holds(pctl('TestAllocateIPFromPool/allocate from exhausted IP pool'), 'an error, total 2, used 2', async () => {
      const c = await cluster(
        pool('eip1', [range('10.10.10.2', '10.10.10.3')]),
        egressObj('e1', { egressIP: '10.10.10.2', externalIPPool: 'eip1' }),
        egressObj('e2', { egressIP: '10.10.10.3', externalIPPool: 'eip1' }),
      );
      await c.ok([egressObj('e3', { externalIPPool: 'eip1' })]);
      expect((await c.egresses()).get('e3')!.specIP).toBe('');
      expect((await c.usage()).get('eip1')).toEqual({ total: 2, used: 2 });
    });
    holds(
      pctl('TestAllocateIPFromPool/allocate from non existing IP pool'),
      'an error, the other pool untouched',
      async () => {
        const c = await cluster(
          pool('eip1', [range('10.10.10.2', '10.10.10.3')]),
          egressObj('e1', { externalIPPool: 'eip2' }),
        );
        expect((await c.egresses()).get('e1')!.conditions).toContain(
          'IPAllocated False AllocationError Cannot allocate EgressIP from ExternalIPPool: ExternalIPPool eip2 does not exist',
        );
        expect((await c.usage()).get('eip1')).toEqual({ total: 2, used: 0 });
      },
    );
    holds(pctl('TestReleaseIP/release IP to pool'), 'deleting the Egress releases its IP: used 0', async () => {
      const c = await cluster(
        pool('eip1', [range('10.10.10.2', '10.10.10.3')]),
        egressObj('e1', { egressIP: '10.10.10.2', externalIPPool: 'eip1' }),
      );
      expect((await c.usage()).get('eip1')!.used).toBe(1);
      expect((await c.delete('egress', 'e1')).code).toBe(0);
      expect((await c.usage()).get('eip1')!.used).toBe(0);
    });
    holds(
      pctl('TestIPPoolHasIP/check for non-existing IP in IPPool'),
      'an IP outside every range is refused for the pool',
      async () => {
        const c = await cluster(pool('eip1', [range('10.10.10.2', '10.10.10.3')]));
        expect(await c.refused([egressObj('e1', { egressIP: '10.10.10.1', externalIPPool: 'eip1' })])).toContain(
          'IP 10.10.10.1 is not within the IP range',
        );
      },
    );
    holds(
      pctl('TestCreateOrUpdateIPAllocator'),
      'a range added later is appended: total grows, allocation continues there',
      async () => {
        const c = await cluster(
          pool('eip1', [range('10.10.10.2', '10.10.10.3')]),
          egressObj('e1', { externalIPPool: 'eip1' }),
          egressObj('e2', { externalIPPool: 'eip1' }),
        );
        expect((await c.usage()).get('eip1')).toEqual({ total: 2, used: 2 });
        await c.ok([pool('eip1', [range('10.10.10.2', '10.10.10.3'), cidr('10.10.11.0/24')])]);
        await c.ok([egressObj('e3', { externalIPPool: 'eip1' })]);
        expect((await c.usage()).get('eip1')).toEqual({ total: 256, used: 3 });
        expect((await c.egresses()).get('e3')!.specIP).toBe('10.10.11.1');
      },
    );
    holds(
      pctl('TestExternalIPPoolController_RestoreIPAllocations/restore IP conflict'),
      'two Egresses with one IP: the older keeps it, the other gets an error',
      async () => {
        const c = await cluster(
          pool('eip1', [range('10.10.10.2', '10.10.10.3')]),
          egressObj('e1', { egressIP: '10.10.10.2', externalIPPool: 'eip1' }),
          egressObj('e2', { egressIP: '10.10.10.2', externalIPPool: 'eip1' }),
        );
        const m = await c.egresses();
        expect(m.get('e1')!.conditions).toContain('IPAllocated True Allocated EgressIP is successfully allocated');
        expect(allocationFailed(m.get('e2')!.conditions)).toBe(true);
        expect((await c.usage()).get('eip1')!.used).toBe(1);
      },
    );
  });

  describe('pool usage for large and /32 ranges (ipallocator, TestCreateOrUpdateIPAllocator)', () => {
    holds(
      pctl('TestCreateOrUpdateIPAllocator'),
      'a /30 has 2 usable addresses, a /31 none, a start-end range every address',
      async () => {
        const c = await cluster(
          pool('a', [cidr('10.1.0.0/30')]),
          pool('b', [cidr('10.1.1.0/31')]),
          pool('c', [range('10.1.2.1', '10.1.2.5')]),
        );
        const u = await c.usage();
        expect([u.get('a')!.total, u.get('b')!.total, u.get('c')!.total]).toEqual([2, 0, 5]);
      },
    );
    differs(
      pctl('TestCreateOrUpdateIPAllocator'),
      'an IPv4 /32 reports total 0',
      'Antrea reports −1 (size − 1 offsets = 0, minus the reserved broadcast address that lies outside them); a negative count is a bug, we count the addresses that can be handed out.',
      async () => {
        const c = await cluster(pool('one', [cidr('10.1.3.7/32')]));
        expect((await c.usage()).get('one')!.total).toBe(0);
      },
    );
    differs(
      pctl('TestCreateOrUpdateIPAllocator'),
      'a /15 is capped at 65,536 offsets and reports 65,536',
      'Antrea caps each range at 65,536 offsets but still subtracts the broadcast address, which lies outside the capped window, and reports 65,535; we subtract only reserved addresses inside the window.',
      async () => {
        const c = await cluster(pool('big', [cidr('10.64.0.0/15')]));
        expect((await c.usage()).get('big')!.total).toBe(65536);
      },
    );
  });
}
