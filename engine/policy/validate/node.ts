/**
 * Node (`v1`): the fields this engine models (podCIDR/podCIDRs, status.addresses, the max-egress-ips and
 * static-egress-ips annotations); the rest is reported as ignored. The kubelet's hostname and os labels are added.
 */
import { parseCIDR, parseIP } from '../ip.js';
import {
  ANNOTATION_MAX_EGRESS_IPS,
  ANNOTATION_STATIC_EGRESS_IPS,
  LABEL_HOSTNAME,
  LABEL_OS,
  nodeStaticIPs,
  nodeIPv6,
  nodeTransportIP,
} from '../model.js';
import type { Node, NodeAddress } from '../model.js';
import { joinPath } from '../problems.js';
import type { Ctx } from '../problems.js';
import { decodeMeta, hasValue } from './meta.js';

export function decodeNode(ctx: Ctx, o: Record<string, unknown>, ignored: string[]): Node | undefined {
  ctx.known(o, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  const metadata = decodeMeta(ctx, o['metadata'], { namespaced: false, nameRule: 'subdomain' });
  if (!metadata) return undefined;
  const before = ctx.errorCount;
  const spec: Node['spec'] = {};
  if (hasValue(o, 'spec')) {
    const s = ctx.map(o['spec'], 'spec');
    if (s) {
      ignored.push(...ctx.unknown(s, 'spec', ['podCIDR', 'podCIDRs']));
      if (hasValue(s, 'podCIDR')) {
        const c = ctx.str(s['podCIDR'], 'spec.podCIDR');
        if (c !== undefined) {
          if (!parseCIDR(c)) ctx.error('spec.podCIDR', `Invalid value: "${c}": must be a CIDR`);
          else spec.podCIDR = c;
        }
      }
      if (hasValue(s, 'podCIDRs')) {
        const l = ctx.strList(s['podCIDRs'], 'spec.podCIDRs');
        if (l) {
          l.forEach((c, i) => {
            if (!parseCIDR(c)) ctx.error(joinPath('spec.podCIDRs', i), `Invalid value: "${c}": must be a CIDR`);
          });
          if (spec.podCIDR !== undefined && l.length > 0 && l[0] !== spec.podCIDR)
            ctx.error('spec.podCIDRs', `Invalid value: "${l[0]}": must match spec.podCIDR ("${spec.podCIDR}")`);
          // Kubernetes ValidateNode: "may specify no more than one CIDR for each IP family".
          const fams = l.map((c) => parseCIDR(c)?.family);
          if (fams.filter((f) => f === 6).length > 1 || fams.filter((f) => f === 4).length > 1)
            ctx.error(
              'spec.podCIDRs',
              `Invalid value: "${l.join(', ')}": may specify no more than one CIDR for each IP family`,
            );
          spec.podCIDRs = l;
        }
      }
    }
  }
  const addresses: NodeAddress[] = [];
  if (hasValue(o, 'status')) {
    const st = ctx.map(o['status'], 'status');
    if (st) {
      ignored.push(...ctx.unknown(st, 'status', ['addresses']));
      if (hasValue(st, 'addresses')) {
        const l = ctx.list(st['addresses'], 'status.addresses');
        l?.forEach((item, i) => {
          const p = joinPath('status.addresses', i);
          const a = ctx.map(item, p);
          if (!a) return;
          ctx.known(a, p, ['type', 'address']);
          if (!ctx.required(a, 'type', p) || !ctx.required(a, 'address', p)) return;
          const type = ctx.str(a['type'], joinPath(p, 'type'));
          const address = ctx.str(a['address'], joinPath(p, 'address'));
          if (type === undefined || address === undefined) return;
          if ((type === 'InternalIP' || type === 'ExternalIP') && !parseIP(address))
            ctx.error(joinPath(p, 'address'), `Invalid value: "${address}": must be an IP address`);
          addresses.push({ type, address });
        });
      }
    }
  }
  const node: Node = { apiVersion: 'v1', kind: 'Node', metadata, spec, status: { addresses } };
  if (ctx.errorCount === before && nodeTransportIP(node) === null && nodeIPv6(node) === null)
    ctx.error(
      'status.addresses',
      'Required value: a Node needs an IPv4 InternalIP address (its transport IP), or IPv6 ones only (an IPv6 underlay)',
    );
  const max = metadata.annotations[ANNOTATION_MAX_EGRESS_IPS];
  const annPath = joinPath('metadata.annotations', ANNOTATION_MAX_EGRESS_IPS);
  if (max !== undefined && !/^(0|[1-9][0-9]{0,2})$/.test(max))
    ctx.error(annPath, `Invalid value: "${max}": must be an integer between 0 and 255`);
  else if (max !== undefined && Number(max) > 255)
    ctx.error(annPath, `Invalid value: "${max}": must be an integer between 0 and 255`);
  const staticPath = joinPath('metadata.annotations', ANNOTATION_STATIC_EGRESS_IPS);
  for (const s of nodeStaticIPs(node)) {
    if (!parseIP(s)) ctx.error(staticPath, `Invalid value: "${s}": must be a comma-separated list of IP addresses`);
  }
  // The kubelet's labels.
  if (!Object.hasOwn(metadata.labels, LABEL_HOSTNAME)) metadata.labels[LABEL_HOSTNAME] = metadata.name;
  if (!Object.hasOwn(metadata.labels, LABEL_OS)) metadata.labels[LABEL_OS] = 'linux';
  return ctx.errorCount === before ? node : undefined;
}
