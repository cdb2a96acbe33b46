/**
 * Egress (`crd.antrea.io/v1beta1`, v1alpha2 accepted): the CRD schema of Antrea's `build/charts/antrea/crds/egress.yaml`
 * (fields, types, the singular/plural oneOf); the webhook rules are in webhooks.ts.
 */
import { ANTREA_API, ANTREA_API_V1ALPHA2 } from '../model.js';
import type { AppliedTo, Egress, EgressSpec } from '../model.js';
import { joinPath } from '../problems.js';
import type { Ctx } from '../problems.js';
import { decodeMeta, decodeSelector, hasValue, ipFormatError } from './meta.js';

export function decodeEgress(ctx: Ctx, o: Record<string, unknown>, apiVersion: string): Egress | undefined {
  ctx.known(o, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  const metadata = decodeMeta(ctx, o['metadata'], { namespaced: false, nameRule: 'subdomain' });
  if (!ctx.required(o, 'spec', '')) return undefined;
  const s = ctx.map(o['spec'], 'spec');
  if (!s || !metadata) return undefined;
  ctx.known(s, 'spec', ['appliedTo', 'egressIP', 'egressIPs', 'externalIPPool', 'externalIPPools', 'bandwidth']);
  const before = ctx.errorCount;
  const spec: Partial<EgressSpec> = {};
  if (ctx.required(s, 'appliedTo', 'spec')) {
    const a = ctx.map(s['appliedTo'], 'spec.appliedTo');
    if (a) {
      ctx.known(a, 'spec.appliedTo', ['podSelector', 'namespaceSelector']);
      const appliedTo: AppliedTo = {};
      if (hasValue(a, 'podSelector')) {
        const ps = decodeSelector(ctx, a['podSelector'], 'spec.appliedTo.podSelector');
        if (ps) appliedTo.podSelector = ps;
      }
      if (hasValue(a, 'namespaceSelector')) {
        const ns = decodeSelector(ctx, a['namespaceSelector'], 'spec.appliedTo.namespaceSelector');
        if (ns) appliedTo.namespaceSelector = ns;
      }
      spec.appliedTo = appliedTo;
    }
  }
  if (hasValue(s, 'egressIP') && s['egressIP'] !== '') {
    const ip = ctx.str(s['egressIP'], 'spec.egressIP');
    if (ip !== undefined && ipFormatError(ctx, ip, 'spec.egressIP')) spec.egressIP = ip;
  }
  if (hasValue(s, 'externalIPPool') && s['externalIPPool'] !== '') {
    const p = ctx.str(s['externalIPPool'], 'spec.externalIPPool');
    if (p !== undefined) spec.externalIPPool = p;
  }
  if (hasValue(s, 'egressIPs')) {
    const l = ctx.strList(s['egressIPs'], 'spec.egressIPs');
    if (l) {
      l.forEach((x, i) => {
        if (x !== '') ipFormatError(ctx, x, joinPath('spec.egressIPs', i));
      });
      spec.egressIPs = l;
    }
  }
  if (hasValue(s, 'externalIPPools')) {
    const l = ctx.strList(s['externalIPPools'], 'spec.externalIPPools');
    if (l) spec.externalIPPools = l;
  }
  if (hasValue(s, 'bandwidth')) {
    if (apiVersion === ANTREA_API_V1ALPHA2) ctx.error('spec.bandwidth', 'unknown field "spec.bandwidth"');
    const b = ctx.map(s['bandwidth'], 'spec.bandwidth');
    if (b) {
      ctx.known(b, 'spec.bandwidth', ['rate', 'burst']);
      const okRate = ctx.required(b, 'rate', 'spec.bandwidth');
      const okBurst = ctx.required(b, 'burst', 'spec.bandwidth');
      if (okRate && okBurst) {
        const rate = ctx.str(b['rate'], 'spec.bandwidth.rate');
        const burst = ctx.str(b['burst'], 'spec.bandwidth.burst');
        if (rate !== undefined && burst !== undefined) spec.bandwidth = { rate, burst };
      }
    }
  }
  // CRD oneOf: {egressIP or externalIPPool} xor {egressIPs or externalIPPools}.
  const singular = spec.egressIP !== undefined || spec.externalIPPool !== undefined;
  const plural = hasValue(s, 'egressIPs') || hasValue(s, 'externalIPPools');
  if (singular === plural && ctx.errorCount === before) {
    ctx.error(
      'spec',
      `Invalid value: "object": must validate one and only one schema (oneOf): ${
        singular
          ? 'egressIP/externalIPPool and egressIPs/externalIPPools are exclusive'
          : 'set egressIP or externalIPPool'
      }`,
    );
  }
  if (ctx.errorCount !== before || !spec.appliedTo) return undefined;
  return {
    apiVersion: ANTREA_API,
    kind: 'Egress',
    metadata,
    spec: spec as EgressSpec,
    status: { egressNode: '', egressIP: '' },
  };
}
