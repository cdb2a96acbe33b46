/**
 * Cases of Antrea's admission webhooks: pkg/controller/egress/validate_test.go and
 * pkg/controller/externalippool/validate_test.go, plus test/e2e/egress_test.go testCreateExternalIPPool. Each
 * applies the existing objects, then the request's object, and compares the refusal with Antrea's message.
 */
import { describe, expect } from 'vitest';
import { Cluster, agentConfig, cidr, differs, egressObj, holds, node, pool, range } from './harness.js';
import type { Range, Ref } from './harness.js';

const EGRESS_VALIDATE = 'pkg/controller/egress/validate_test.go';
const POOL_VALIDATE = 'pkg/controller/externalippool/validate_test.go';
const eg = (test: string): Ref => ({ file: EGRESS_VALIDATE, test: `TestEgressControllerValidateEgress/${test}` });
const ctl = (test: string): Ref => ({ file: POOL_VALIDATE, test: `TestControllerValidateExternalIPPool/${test}` });
const rng = (test: string): Ref => ({ file: POOL_VALIDATE, test: `TestValidateIPRangesAndSubnetInfo/${test}` });

const BASE = [agentConfig(), node('node1', '198.18.0.11')];

async function cluster(...docs: Record<string, unknown>[]): Promise<Cluster> {
  const c = new Cluster();
  await c.ok([...BASE, ...docs]);
  return c;
}

export function webhookCases(): void {
  describe('Egress webhook', () => {
    holds(eg('Requesting IP from non-existing ExternalIPPool should not be allowed'), 'refused', async () => {
      const c = await cluster();
      const err = await c.refused([egressObj('foo', { egressIP: '10.10.10.1', externalIPPool: 'nonExistingPool' })]);
      expect(err).toContain('ExternalIPPool nonExistingPool does not exist');
    });
    holds(eg('Requesting IP out of range should not be allowed'), 'refused', async () => {
      const c = await cluster(pool('bar', [cidr('10.10.10.0/24')]));
      const err = await c.refused([egressObj('foo', { egressIP: '10.10.11.1', externalIPPool: 'bar' })]);
      expect(err).toContain('IP 10.10.11.1 is not within the IP range');
    });
    holds(eg('Requesting normal IP should be allowed'), 'allowed', async () => {
      const c = await cluster(pool('bar', [cidr('10.10.10.0/24')]));
      await c.ok([egressObj('foo', { egressIP: '10.10.10.1', externalIPPool: 'bar' })]);
    });
    holds(eg('Updating EgressIP to invalid one should not be allowed'), 'refused', async () => {
      const c = await cluster(
        pool('bar', [cidr('10.10.10.0/24')]),
        egressObj('foo', { egressIP: '10.10.10.1', externalIPPool: 'bar' }),
      );
      const err = await c.refused([egressObj('foo', { egressIP: '10.10.11.1', externalIPPool: 'bar' })]);
      expect(err).toContain('IP 10.10.11.1 is not within the IP range');
    });
    holds(eg('Updating EgressIP to valid one should be allowed'), 'allowed', async () => {
      const c = await cluster(
        pool('bar', [cidr('10.10.10.0/24')]),
        egressObj('foo', { egressIP: '10.10.10.1', externalIPPool: 'bar' }),
      );
      await c.ok([egressObj('foo', { egressIP: '10.10.10.2', externalIPPool: 'bar' })]);
      expect((await c.egresses()).get('foo')!.specIP).toBe('10.10.10.2');
    });
    holds(eg('Updating podSelector should be allowed'), 'allowed', async () => {
      const c = await cluster(
        pool('bar', [cidr('10.10.10.0/24')]),
        egressObj('foo', { egressIP: '10.10.10.1', externalIPPool: 'bar' }),
      );
      await c.ok([
        egressObj('foo', {
          egressIP: '10.10.10.2',
          externalIPPool: 'bar',
          appliedTo: { podSelector: { matchLabels: { foo: 'bar' } } },
        }),
      ]);
    });
    holds(eg('DELETE operation should be allowed'), 'allowed', async () => {
      const c = await cluster(
        pool('bar', [cidr('10.10.10.0/24')]),
        egressObj('foo', { egressIP: '10.10.10.2', externalIPPool: 'bar' }),
      );
      expect((await c.delete('egress', 'foo')).code).toBe(0);
      expect((await c.egresses()).size).toBe(0);
    });
    holds(eg('Creating an Egress with bandwidth should be allowed'), 'allowed', async () => {
      const c = await cluster();
      await c.ok([egressObj('foo', { egressIP: '10.10.10.1', bandwidth: { rate: '500k', burst: '10M' } })]);
    });
    holds(eg('Update an Egress bandwidth config should be allowed'), 'allowed', async () => {
      const c = await cluster(egressObj('foo', { egressIP: '10.10.10.1', bandwidth: { rate: '500k', burst: '10M' } }));
      await c.ok([egressObj('foo', { egressIP: '10.10.10.1' })]);
    });
    holds(eg('Create an Egress with invalid bandwidth rate'), 'refused with the quantity regexp', async () => {
      const c = await cluster();
      const err = await c.refused([
        egressObj('foo', { egressIP: '10.10.10.1', bandwidth: { rate: '500A', burst: '10G' } }),
      ]);
      expect(err).toContain(
        "Rate 500A in Egress foo is invalid: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
      );
    });
    holds(eg('Create an Egress with invalid bandwidth burst'), 'refused with the quantity regexp', async () => {
      const c = await cluster();
      const err = await c.refused([
        egressObj('foo', { egressIP: '10.10.10.1', bandwidth: { rate: '1.5G', burst: '10b' } }),
      ]);
      expect(err).toContain(
        "Burst 10b in Egress foo is invalid: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
      );
    });
    differs(
      eg('Creating an Egress with bandwidth should be allowed'),
      'a rate below 1k or a burst below one frame is refused',
      "Antrea's webhook only parses the quantities; its OVS meter counts whole kbit/s and cannot hold less than one frame, so such values would not do what they say (README, Bandwidth).",
      async () => {
        const c = await cluster();
        const err = await c.refused([
          egressObj('foo', { egressIP: '10.10.10.1', bandwidth: { rate: '500', burst: '1k' } }),
        ]);
        expect(err).toContain('Rate 500 in Egress foo is invalid: below 1k');
      },
    );
  });

  describe('ExternalIPPool webhook', () => {
    holds(ctl('CREATE operation without SubnetInfo should be allowed'), 'allowed', async () => {
      await cluster(pool('foo', [cidr('10.10.10.0/24'), range('10.10.20.1', '10.10.20.2')]));
    });
    holds(ctl('CREATE operation with valid SubnetInfo should be allowed'), 'allowed', async () => {
      await cluster(
        pool('foo', [cidr('10.10.10.0/24'), range('10.10.20.1', '10.10.20.2')], {
          subnetInfo: { gateway: '10.10.0.1', prefixLength: 16, vlan: 2 },
        }),
      );
    });
    holds(ctl('Adding matched SubnetInfo should be allowed'), 'allowed', async () => {
      const c = await cluster(pool('foo', [cidr('10.10.10.0/24'), range('10.10.20.1', '10.10.20.2')]));
      await c.ok([
        pool('foo', [cidr('10.10.10.0/24'), range('10.10.20.1', '10.10.20.2')], {
          subnetInfo: { gateway: '10.10.0.1', prefixLength: 16, vlan: 2 },
        }),
      ]);
    });
    holds(ctl('Deleting IPRange should not be allowed'), 'refused', async () => {
      const c = await cluster(pool('foo', [cidr('10.10.10.0/24'), range('10.10.20.1', '10.10.20.2')]));
      const err = await c.refused([pool('foo', [cidr('10.10.10.0/24')])]);
      expect(err).toContain('existing IPRanges [10.10.20.1-10.10.20.2] cannot be updated or deleted');
    });
    holds(ctl('Adding IPRange should be allowed'), 'allowed', async () => {
      const c = await cluster(pool('foo', [cidr('10.10.10.0/24')]));
      await c.ok([pool('foo', [cidr('10.10.10.0/24'), range('10.10.20.1', '10.10.20.2')])]);
    });
    holds(ctl('DELETE operation should be allowed'), 'allowed', async () => {
      const c = await cluster(pool('foo', [cidr('10.10.10.0/24')]));
      expect((await c.delete('externalippool', 'foo')).code).toBe(0);
    });
    holds(
      { file: 'test/e2e/egress_test.go', test: 'testCreateExternalIPPool' },
      'a pool without ipRanges is refused',
      async () => {
        const c = await cluster();
        const err = await c.refused([
          {
            apiVersion: 'crd.antrea.io/v1beta1',
            kind: 'ExternalIPPool',
            metadata: { name: 'fakeexternalippool' },
            spec: { nodeSelector: { matchLabels: { env: 'pro-' } } },
          },
        ]);
        expect(err).toContain('spec.ipRanges: Required value');
      },
    );

    // TestValidateIPRangesAndSubnetInfo: the pool under test, the existing pools, Antrea's message (null: allowed).
    const si = (gateway: string, prefixLength: number) => ({ gateway, prefixLength, vlan: 2 });
    const rows: [string, Range[], Record<string, unknown> | undefined, [string, Range[]][], string | null][] = [
      [
        'invalid gateway address',
        [cidr('10.10.10.0/24'), range('10.10.20.1', '10.10.20.2')],
        si('10.10.0', 16),
        [],
        'invalid gateway address 10.10.0',
      ],
      ['invalid ipv4 prefix', [cidr('10.10.10.0/24')], si('10.10.0.1', 42), [], 'invalid prefixLength 42'],
      [
        'range start greater than end',
        [range('10.10.20.0', '10.10.10.0')],
        undefined,
        [],
        'range start 10.10.20.0 should not be greater than range end 10.10.10.0',
      ],
      [
        'start-end must belong to same ip family',
        [range('10.10.20.0', '2001:d00::')],
        undefined,
        [],
        'range start 10.10.20.0 and range end 2001:d00:: should belong to same family',
      ],
      [
        'start-end range must be within subnet info',
        [range('10.10.20.10', '10.10.20.40')],
        si('10.10.10.0', 24),
        [],
        'range [10.10.20.10-10.10.20.40] must be a strict subset of the subnet 10.10.10.0/24',
      ],
      [
        'cidr must be within subnet info',
        [cidr('10.20.0.0/16')],
        si('10.20.0.0', 24),
        [],
        'range [10.20.0.0/16] must be a strict subset of the subnet 10.20.0.0/24',
      ],
      ['valid subnet info 1', [range('10.10.20.10', '10.10.20.20')], si('10.10.20.0', 24), [], null],
      ['valid subnet info 2', [cidr('fd00:10:96::/112')], si('fd00:10:96::', 96), [], null],
      [
        'cidr must not overlap with any existing cidr',
        [cidr('10.20.30.0/24')],
        undefined,
        [
          ['bar', [cidr('10.10.10.0/24')]],
          ['baz', [cidr('10.10.20.0/24')]],
          ['qux', [cidr('10.20.0.0/16')]],
        ],
        'range [10.20.30.0/24] overlaps with range [10.20.0.0/16] of ExternalIPPool qux',
      ],
      [
        'cidr must not overlap with any existing start-end range',
        [cidr('10.20.30.0/24')],
        undefined,
        [['bar', [range('10.20.30.10', '10.20.30.50')]]],
        'range [10.20.30.0/24] overlaps with range [10.20.30.10-10.20.30.50] of ExternalIPPool bar',
      ],
      [
        'cidr must not overlap with any cidr',
        [cidr('10.10.10.0/24'), cidr('10.30.20.0/24'), cidr('10.10.0.0/16')],
        undefined,
        [],
        'range [10.10.0.0/16] overlaps with range [10.10.10.0/24]',
      ],
      [
        'cidr must not overlap with any start-end range',
        [range('10.10.20.20', '10.10.20.50'), cidr('10.10.20.0/24')],
        undefined,
        [],
        'range [10.10.20.0/24] overlaps with range [10.10.20.20-10.10.20.50]',
      ],
      [
        'valid non overlapping cidr',
        [cidr('10.10.20.0/24'), cidr('10.10.30.0/24')],
        undefined,
        [
          ['bar', [range('10.10.40.10', '10.10.40.80')]],
          ['qux', [cidr('10.20.0.0/16')]],
        ],
        null,
      ],
      [
        'start-end range must not overlap with any existing cidr',
        [range('10.30.10.0', '10.30.20.0')],
        undefined,
        [
          ['bar', [range('10.10.10.0', '10.10.20.0')]],
          ['baz', [cidr('10.20.0.0/16')]],
          ['qux', [cidr('10.30.0.0/20')]],
        ],
        'range [10.30.10.0-10.30.20.0] overlaps with range [10.30.0.0/20] of ExternalIPPool qux',
      ],
      [
        'start-end range must not overlap with any existing start-end range',
        [range('10.30.10.0', '10.30.20.0')],
        undefined,
        [
          ['bar', [cidr('10.10.0.0/16')]],
          ['baz', [range('10.30.20.0', '10.30.40.0')]],
        ],
        'range [10.30.10.0-10.30.20.0] overlaps with range [10.30.20.0-10.30.40.0] of ExternalIPPool baz',
      ],
      [
        'start-end range must not overlap with any cidr',
        [cidr('10.30.0.0/16'), range('10.30.40.50', '10.30.40.80')],
        undefined,
        [],
        'range [10.30.40.50-10.30.40.80] overlaps with range [10.30.0.0/16]',
      ],
      [
        'start-end range must not overlap with any start-end range',
        [range('10.30.40.50', '10.30.40.80'), cidr('10.30.50.0/24'), range('10.30.40.10', '10.30.40.90')],
        undefined,
        [],
        'range [10.30.40.10-10.30.40.90] overlaps with range [10.30.40.50-10.30.40.80]',
      ],
      [
        'valid non overlapping start-end range',
        [
          range('10.30.10.0', '10.30.20.0'),
          cidr('10.30.50.0/24'),
          cidr('10.50.0.0/16'),
          range('10.30.20.1', '10.30.40.10'),
        ],
        undefined,
        [
          ['bar', [range('10.10.10.0', '10.10.20.0')]],
          ['baz', [cidr('10.20.0.0/16')]],
        ],
        null,
      ],
    ];
    for (const [name, ranges, subnetInfo, existing, msg] of rows) {
      holds(rng(name), msg === null ? 'allowed' : "refused with Antrea's message", async () => {
        const c = await cluster(...existing.map(([n, r]) => pool(n, r)));
        const p = pool('foo', ranges, subnetInfo ? { subnetInfo } : {});
        if (msg === null) await c.ok([p]);
        else expect(await c.refused([p])).toContain(msg);
      });
    }
    differs(
      rng('invalid ipv6 prefix'),
      'refused, by the CRD schema',
      "The unit test calls the webhook directly; through the API (and here) the CRD schema (prefixLength ≤ 127) refuses 130 first, with the schema's wording.",
      async () => {
        const c = await cluster();
        const err = await c.refused([pool('foo', [cidr('10.10.10.0/24')], { subnetInfo: si('2001:d00::', 130) })]);
        expect(err).toContain('spec.subnetInfo.prefixLength in body should be less than or equal to 127');
      },
    );
  });
}
