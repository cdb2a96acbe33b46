/** IP text parsing and formatting (checked against Python's ipaddress), label selectors, Kubernetes quantities. */
import { describe, expect, it } from 'vitest';
import {
  appliedToMatches,
  canonicalIP,
  formatIPv4,
  ipv4ToInt32,
  parseCIDR,
  parseIP,
  parsePrefix4,
  prefix4Contains,
  quantityError,
  quantityValue,
  selectorMatches,
  ERR_FORMAT_WRONG,
  ERR_SUFFIX,
} from '../../engine/policy/index.js';
import type { LabelSelector } from '../../engine/policy/index.js';
import { py } from './python.js';

describe('IP text', () => {
  it('formats IPv6 in RFC 5952 form, like Python ipaddress (and Go net.IP.String)', () => {
    const inputs = [
      '2021:1::aaa1',
      '2021:0001:0000:0000:0000:0000:0000:AAA1',
      '::',
      '::1',
      '1::',
      '1:0:0:2:0:0:0:3',
      '1:0:0:2:0:0:3:4',
      'fe80::1:0:0:0:1',
      '2001:db8:0:0:1:0:0:1',
      '0:0:0:0:0:ffff:102:304',
      '1:2:3:4:5:6:7::',
    ];
    const ours = inputs.map(canonicalIP);
    const theirs = py<string[]>(
      'import json,sys,ipaddress\nprint(json.dumps([ipaddress.IPv6Address(s).compressed for s in json.load(sys.stdin)]))',
      inputs,
    );
    expect(ours).toEqual(theirs);
  });

  it('parses strictly like Go (no leading zeros, no zones, no extra groups)', () => {
    for (const bad of [
      '01.2.3.4',
      '1.2.3',
      '1.2.3.256',
      '1.2.3.4.5',
      ' 1.2.3.4',
      'fe80::1%eth0',
      '1:2:3:4:5:6:7:8:9',
      '1:::2',
      ':1::2',
      'x',
    ])
      expect(parseIP(bad), bad).toBeNull();
    expect(parseIP('10.0.0.1')).toEqual({ family: 4, value: 0x0a000001n });
    expect(parseIP('::ffff:1.2.3.4')?.family).toBe(6);
  });

  it('parses CIDRs and masks the host bits', () => {
    expect(parseCIDR('10.1.2.3/24')).toEqual({ family: 4, addr: 0x0a010200n, len: 24 });
    expect(parseCIDR('10.1.2.3/33')).toBeNull();
    expect(parseCIDR('10.1.2.3/08')).toBeNull();
    expect(parseCIDR('2021:1::aaa0/124')?.len).toBe(124);
  });

  it('uses int32 for IPv4 in the view', () => {
    const ip = ipv4ToInt32('198.18.0.253')!;
    expect(ip).toBe((198 << 24) | (18 << 16) | 253);
    expect(ip).toBeLessThan(0); // above 2^31: negative int32, never a boxed double
    expect(formatIPv4(ip)).toBe('198.18.0.253');
    const p = parsePrefix4('198.18.0.7/24')!;
    expect(formatIPv4(p.addr)).toBe('198.18.0.0');
    expect(prefix4Contains(p, ip)).toBe(true);
    expect(prefix4Contains(p, ipv4ToInt32('198.18.1.1')!)).toBe(false);
    expect(parsePrefix4('0.0.0.0/0')!.mask).toBe(0);
  });
});

describe('label selectors (Kubernetes semantics)', () => {
  const labels = { app: 'web', tier: 'front' };
  const cases: [LabelSelector, boolean][] = [
    [{}, true],
    [{ matchLabels: { app: 'web' } }, true],
    [{ matchLabels: { app: 'db' } }, false],
    [{ matchLabels: { app: 'web', tier: 'back' } }, false],
    [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'db'] }] }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['db'] }] }, false],
    [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, false],
    [{ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['db'] }] }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] }, false],
    [{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, true], // absent key satisfies NotIn
    [{ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, true],
    [{ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, false],
    [{ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, false],
    [{ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['back'] }] }, false],
  ];
  it.each(cases.map((c, i) => [i, ...c] as const))('case %i', (_i, sel, want) => {
    expect(selectorMatches(sel, labels)).toBe(want);
  });

  it('appliedTo: pods only, namespaces only, both = AND, empty = nothing', () => {
    const pod = { app: 'web' };
    const ns = { 'kubernetes.io/metadata.name': 'prod' };
    const podSel = { matchLabels: { app: 'web' } };
    const nsSel = { matchLabels: { 'kubernetes.io/metadata.name': 'prod' } };
    const otherNs = { matchLabels: { 'kubernetes.io/metadata.name': 'staging' } };
    expect(appliedToMatches({ podSelector: podSel }, pod, ns)).toBe(true);
    expect(appliedToMatches({ namespaceSelector: nsSel }, { other: 'x' }, ns)).toBe(true);
    expect(appliedToMatches({ podSelector: podSel, namespaceSelector: nsSel }, pod, ns)).toBe(true);
    expect(appliedToMatches({ podSelector: podSel, namespaceSelector: otherNs }, pod, ns)).toBe(false);
    expect(appliedToMatches({}, pod, ns)).toBe(false);
    expect(appliedToMatches({ podSelector: {} }, { any: 'thing' }, ns)).toBe(true); // {} selects all Pods
  });
});

describe('Kubernetes quantities (bandwidth)', () => {
  it('accepts what ParseQuantity accepts', () => {
    for (const ok of ['100M', '2G', '300k', '1Gi', '1.5G', '0', '1e3', '+5', '-100M', '.5'])
      expect(quantityError(ok), ok).toBeNull();
  });
  it('computes Value() (rounded up) for the meter rates', () => {
    expect(quantityValue('100M')).toBe(100_000_000n);
    expect(quantityValue('2G')).toBe(2_000_000_000n);
    expect(quantityValue('1Ki')).toBe(1024n);
    expect(quantityValue('1.5Gi')).toBe(1_610_612_736n);
    expect(quantityValue('1500m')).toBe(2n);
    expect(quantityValue('3e3')).toBe(3000n);
    expect(quantityValue('x')).toBeNull();
  });

  it('saturates at int64 without building huge powers of ten (a store write of 1e99999999 stalled the view)', () => {
    const max = (1n << 63n) - 1n;
    expect(quantityValue('1e99999999')).toBe(max);
    expect(quantityValue('-1e99999999')).toBe(-max);
    expect(quantityValue('9223372036854775808')).toBe(max);
    expect(quantityValue('9223372036854775807')).toBe(max);
    expect(quantityValue('8Ei')).toBe(max);
    expect(quantityValue('1e18')).toBe(10n ** 18n);
    expect(quantityValue('1e-99999999')).toBe(1n); // rounded up, as Value() does
    expect(quantityValue('0e99999999')).toBe(0n);
  });

  it('rejects with apimachinery wording', () => {
    expect(quantityError('')).toBe(ERR_FORMAT_WRONG);
    expect(quantityError('abc')).toBe(ERR_FORMAT_WRONG);
    expect(quantityError('100X')).toBe(ERR_FORMAT_WRONG);
    expect(quantityError('100MM')).toBe(ERR_SUFFIX);
    expect(ERR_FORMAT_WRONG).toBe(
      "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
    );
  });
});
