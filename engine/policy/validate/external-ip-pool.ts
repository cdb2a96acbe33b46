/**
 * ExternalIPPool (`crd.antrea.io/v1beta1`, v1alpha2 accepted): the CRD schema of Antrea's
 * `build/charts/antrea/crds/externalippool.yaml` (ipRanges oneOf, subnetInfo bounds, nodeSelector required); the
 * webhook rules (range arithmetic, overlaps) are in webhooks.ts.
 */
import { parseCIDR } from '../ip.js';
import { ANTREA_API, ANTREA_API_V1ALPHA2 } from '../model.js';
import type { ExternalIPPool, IPRange, LabelSelector, SubnetInfo } from '../model.js';
import { joinPath } from '../problems.js';
import type { Ctx } from '../problems.js';
import { decodeMeta, decodeSelector, hasValue, ipFormatError } from './meta.js';

export function decodePool(ctx: Ctx, o: Record<string, unknown>, apiVersion: string): ExternalIPPool | undefined {
  ctx.known(o, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  const metadata = decodeMeta(ctx, o['metadata'], { namespaced: false, nameRule: 'subdomain' });
  if (!ctx.required(o, 'spec', '')) return undefined;
  const s = ctx.map(o['spec'], 'spec');
  if (!s || !metadata) return undefined;
  ctx.known(s, 'spec', ['ipRanges', 'subnetInfo', 'nodeSelector']);
  const before = ctx.errorCount;
  const ipRanges: IPRange[] = [];
  if (ctx.required(s, 'ipRanges', 'spec')) {
    const l = ctx.list(s['ipRanges'], 'spec.ipRanges');
    l?.forEach((item, i) => {
      const p = joinPath('spec.ipRanges', i);
      const r = ctx.map(item, p);
      if (!r) return;
      ctx.known(r, p, ['cidr', 'start', 'end']);
      const hasCidr = hasValue(r, 'cidr');
      const hasStartEnd = hasValue(r, 'start') && hasValue(r, 'end');
      if (hasCidr === hasStartEnd || (hasCidr && (hasValue(r, 'start') || hasValue(r, 'end')))) {
        ctx.error(
          p,
          'Invalid value: "object": must validate one and only one schema (oneOf): either cidr, or start and end',
        );
        return;
      }
      if (hasCidr) {
        const c = ctx.str(r['cidr'], joinPath(p, 'cidr'));
        if (c === undefined) return;
        if (!parseCIDR(c)) {
          ctx.error(joinPath(p, 'cidr'), `Invalid value: "${c}": must be a CIDR`);
          return;
        }
        ipRanges.push({ cidr: c });
      } else {
        const st = ctx.str(r['start'], joinPath(p, 'start'));
        const en = ctx.str(r['end'], joinPath(p, 'end'));
        if (st === undefined || en === undefined) return;
        const a = ipFormatError(ctx, st, joinPath(p, 'start'));
        const b = ipFormatError(ctx, en, joinPath(p, 'end'));
        if (a && b) ipRanges.push({ start: st, end: en });
      }
    });
  }
  let nodeSelector: LabelSelector | undefined;
  if (ctx.required(s, 'nodeSelector', 'spec'))
    nodeSelector = decodeSelector(ctx, s['nodeSelector'], 'spec.nodeSelector');
  let subnetInfo: SubnetInfo | undefined;
  if (hasValue(s, 'subnetInfo')) {
    if (apiVersion === ANTREA_API_V1ALPHA2) ctx.error('spec.subnetInfo', 'unknown field "spec.subnetInfo"');
    const si = ctx.map(s['subnetInfo'], 'spec.subnetInfo');
    if (si) {
      ctx.known(si, 'spec.subnetInfo', ['gateway', 'prefixLength', 'vlan']);
      const okG = ctx.required(si, 'gateway', 'spec.subnetInfo');
      const okP = ctx.required(si, 'prefixLength', 'spec.subnetInfo');
      if (okG && okP) {
        const gateway = ctx.str(si['gateway'], 'spec.subnetInfo.gateway');
        const prefixLength = ctx.int(si['prefixLength'], 'spec.subnetInfo.prefixLength');
        if (prefixLength !== undefined && (prefixLength < 1 || prefixLength > 127))
          ctx.error(
            'spec.subnetInfo.prefixLength',
            `Invalid value: ${prefixLength}: spec.subnetInfo.prefixLength in body should be ${
              prefixLength < 1 ? 'greater than or equal to 1' : 'less than or equal to 127'
            }`,
          );
        let vlan: number | undefined;
        if (hasValue(si, 'vlan')) {
          vlan = ctx.int(si['vlan'], 'spec.subnetInfo.vlan');
          if (vlan !== undefined && (vlan < 0 || vlan > 4094))
            ctx.error(
              'spec.subnetInfo.vlan',
              `Invalid value: ${vlan}: spec.subnetInfo.vlan in body should be ${
                vlan < 0 ? 'greater than or equal to 0' : 'less than or equal to 4094'
              }`,
            );
        }
        if (gateway !== undefined && prefixLength !== undefined) {
          subnetInfo = { gateway, prefixLength };
          if (vlan !== undefined) subnetInfo.vlan = vlan;
        }
      }
    }
  }
  if (ctx.errorCount !== before || !nodeSelector) return undefined;
  const spec: ExternalIPPool['spec'] = { ipRanges, nodeSelector };
  if (subnetInfo) spec.subnetInfo = subnetInfo;
  return { apiVersion: ANTREA_API, kind: 'ExternalIPPool', metadata, spec, status: { usage: { total: 0, used: 0 } } };
}
