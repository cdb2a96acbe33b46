/**
 * Validation: documents → typed objects (the CRD schemas and the API server's object rules), Antrea's validating
 * webhooks (`pkg/controller/egress/validate.go`, `pkg/controller/externalippool/validate.go`,
 * `pkg/controller/validation/ippool.go`) with their wording, and the cross-object rules this engine needs (a Pod's
 * Node and Namespace exist, addresses are unique and on the segment...).
 *
 * A set of documents is validated as a whole against the state it would produce; state.ts applies it only when no
 * error was found.
 */
import { poolAllocator } from './allocator.js';
import { decodeAgentConfigFields, decodeEmbeddedConfig, AGENT_CONF_KEY, resolveConfig } from './config.js';
import type { ResolvedConfig } from './config.js';
import {
  canonicalIP,
  compareIP,
  formatIP,
  parseCIDR,
  parseInterfaceAddress,
  parseIP,
  prefixBounds,
  prefixContains,
  prefixesOverlap,
} from './ip.js';
import type { IP, Prefix } from './ip.js';
import type { ManifestDoc } from './manifest.js';
import {
  ANNOTATION_MAX_EGRESS_IPS,
  ANNOTATION_STATIC_EGRESS_IPS,
  ANTREA_API,
  ANTREA_API_V1ALPHA2,
  ENGINE_API,
  LABEL_HOSTNAME,
  LABEL_NAMESPACE_NAME,
  LABEL_OS,
  keyOf,
  namespaceLabels,
  nodePodCIDR,
  nodeStaticIPs,
  nodeTransportIP,
  podIPv4,
} from './model.js';
import type {
  AgentConfig,
  AnyObject,
  AppliedTo,
  ClusterState,
  ConfigMap,
  Egress,
  EgressSpec,
  ExternalHost,
  ExternalIPPool,
  IPRange,
  Kind,
  LabelSelector,
  LabelSelectorRequirement,
  Namespace,
  Node,
  NodeAddress,
  ObjectMeta,
  Pod,
  SubnetInfo,
} from './model.js';
import { Ctx, joinPath, show } from './problems.js';
import type { Problem, Source } from './problems.js';
import { quantityError } from './quantity.js';
import {
  OPERATORS,
  dns1123LabelErrors,
  dns1123SubdomainErrors,
  labelValueErrors,
  qualifiedNameErrors,
} from './selector.js';

/** apiVersion → kinds accepted under it. */
const KINDS_BY_API: Record<string, readonly Kind[]> = {
  [ANTREA_API]: ['Egress', 'ExternalIPPool'],
  [ANTREA_API_V1ALPHA2]: ['Egress', 'ExternalIPPool'],
  v1: ['Node', 'Namespace', 'Pod', 'ConfigMap'],
  [ENGINE_API]: ['AgentConfig', 'ExternalHost'],
};

const META_FIELDS = [
  'name',
  'namespace',
  'labels',
  'annotations',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'ownerReferences',
  'finalizers',
  'managedFields',
  'selfLink',
];

/** A decoded document: the object, where it came from, and its problems' context. */
export interface Decoded {
  readonly object: AnyObject;
  readonly source: Source;
  /** Fields of v1 kinds that we do not model and dropped. */
  readonly ignored: readonly string[];
}

// --- generic pieces ----------------------------------------------------------------------------------------------

function decodeMeta(
  ctx: Ctx,
  v: unknown,
  opts: { namespaced: boolean; nameRule: 'subdomain' | 'label'; optionalName?: string },
): ObjectMeta | undefined {
  if (v === undefined || v === null) {
    if (opts.optionalName !== undefined) return meta(opts.optionalName, undefined, {}, {});
    ctx.error('metadata', 'Required value');
    return undefined;
  }
  const m = ctx.map(v, 'metadata');
  if (!m) return undefined;
  ctx.known(m, 'metadata', META_FIELDS);
  let name: string | undefined;
  if (m['name'] === undefined || m['name'] === null || m['name'] === '') {
    if (opts.optionalName !== undefined) name = opts.optionalName;
    else ctx.error('metadata.name', 'Required value: name or generateName is required');
  } else {
    name = ctx.str(m['name'], 'metadata.name');
    if (name !== undefined) {
      ctx.name = opts.namespaced ? `${namespaceOf(m)}/${name}` : name;
      const errs = opts.nameRule === 'label' ? dns1123LabelErrors(name) : dns1123SubdomainErrors(name);
      for (const e of errs) ctx.error('metadata.name', `Invalid value: "${name}": ${e}`);
    }
  }
  let namespace: string | undefined;
  if (opts.namespaced) {
    namespace = 'default';
    if (m['namespace'] !== undefined && m['namespace'] !== null && m['namespace'] !== '') {
      const ns = ctx.str(m['namespace'], 'metadata.namespace');
      if (ns !== undefined) {
        for (const e of dns1123LabelErrors(ns)) ctx.error('metadata.namespace', `Invalid value: "${ns}": ${e}`);
        namespace = ns;
      }
    }
  }
  const labels: Record<string, string> = {};
  if (m['labels'] !== undefined && m['labels'] !== null) {
    const l = ctx.strMap(m['labels'], 'metadata.labels');
    if (l) {
      for (const [k, val] of Object.entries(l)) {
        for (const e of qualifiedNameErrors(k)) ctx.error('metadata.labels', `Invalid value: "${k}": ${e}`);
        for (const e of labelValueErrors(val))
          ctx.error(joinPath('metadata.labels', k), `Invalid value: "${val}": ${e}`);
        labels[k] = val;
      }
    }
  }
  const annotations: Record<string, string> = {};
  if (m['annotations'] !== undefined && m['annotations'] !== null) {
    const a = ctx.strMap(m['annotations'], 'metadata.annotations');
    if (a) {
      for (const [k, val] of Object.entries(a)) {
        for (const e of qualifiedNameErrors(k)) ctx.error('metadata.annotations', `Invalid value: "${k}": ${e}`);
        annotations[k] = val;
      }
    }
  }
  if (name === undefined) return undefined;
  return meta(name, namespace, labels, annotations);
}

function meta(
  name: string,
  namespace: string | undefined,
  labels: Record<string, string>,
  annotations: Record<string, string>,
): ObjectMeta {
  const m: ObjectMeta = {
    name,
    labels,
    annotations,
    uid: '',
    creationTimestamp: '',
    generation: 0,
    resourceVersion: '',
  };
  if (namespace !== undefined) m.namespace = namespace;
  return m;
}

/** Decode a LabelSelector (CRD schema + `metav1.ValidateLabelSelector`). */
function decodeSelector(ctx: Ctx, v: unknown, path: string): LabelSelector | undefined {
  const m = ctx.map(v, path);
  if (!m) return undefined;
  ctx.known(m, path, ['matchLabels', 'matchExpressions']);
  const sel: LabelSelector = {};
  let ok = true;
  if (m['matchLabels'] !== undefined && m['matchLabels'] !== null) {
    const lp = joinPath(path, 'matchLabels');
    const l = ctx.strMap(m['matchLabels'], lp);
    if (!l) ok = false;
    else {
      for (const [k, val] of Object.entries(l)) {
        for (const e of qualifiedNameErrors(k)) {
          ctx.error(lp, `Invalid value: "${k}": ${e}`);
          ok = false;
        }
        for (const e of labelValueErrors(val)) {
          ctx.error(joinPath(lp, k), `Invalid value: "${val}": ${e}`);
          ok = false;
        }
      }
      sel.matchLabels = l;
    }
  }
  if (m['matchExpressions'] !== undefined && m['matchExpressions'] !== null) {
    const ep = joinPath(path, 'matchExpressions');
    const l = ctx.list(m['matchExpressions'], ep);
    if (!l) ok = false;
    else {
      const reqs: LabelSelectorRequirement[] = [];
      l.forEach((item, i) => {
        const ip = joinPath(ep, i);
        const r = ctx.map(item, ip);
        if (!r) {
          ok = false;
          return;
        }
        ctx.known(r, ip, ['key', 'operator', 'values']);
        if (!ctx.required(r, 'key', ip) || !ctx.required(r, 'operator', ip)) {
          ok = false;
          return;
        }
        const key = ctx.str(r['key'], joinPath(ip, 'key'));
        const op = ctx.str(r['operator'], joinPath(ip, 'operator'));
        if (key === undefined || op === undefined) {
          ok = false;
          return;
        }
        for (const e of qualifiedNameErrors(key)) {
          ctx.error(joinPath(ip, 'key'), `Invalid value: "${key}": ${e}`);
          ok = false;
        }
        if (!(OPERATORS as readonly string[]).includes(op)) {
          ctx.error(
            joinPath(ip, 'operator'),
            `Unsupported value: "${op}": supported values: ${OPERATORS.map((o) => `"${o}"`).join(', ')}`,
          );
          ok = false;
          return;
        }
        let values: string[] | undefined;
        if (r['values'] !== undefined && r['values'] !== null) {
          values = ctx.strList(r['values'], joinPath(ip, 'values'));
          if (!values) {
            ok = false;
            return;
          }
          values.forEach((val, j) => {
            for (const e of labelValueErrors(val)) {
              ctx.error(joinPath(joinPath(ip, 'values'), j), `Invalid value: "${val}": ${e}`);
              ok = false;
            }
          });
        }
        if ((op === 'In' || op === 'NotIn') && (!values || values.length === 0)) {
          ctx.error(joinPath(ip, 'values'), "Required value: must be specified when `operator` is 'In' or 'NotIn'");
          ok = false;
        }
        if ((op === 'Exists' || op === 'DoesNotExist') && values && values.length > 0) {
          ctx.error(
            joinPath(ip, 'values'),
            "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
          );
          ok = false;
        }
        const req: LabelSelectorRequirement = { key, operator: op as LabelSelectorRequirement['operator'] };
        if (values && values.length > 0) req.values = values;
        reqs.push(req);
      });
      sel.matchExpressions = reqs;
    }
  }
  return ok ? sel : undefined;
}

function ipFormatError(ctx: Ctx, v: string, path: string, what = 'an IPv4 or IPv6 address'): IP | undefined {
  const ip = parseIP(v);
  if (!ip) {
    ctx.error(path, `Invalid value: "${v}": must be ${what}`);
    return undefined;
  }
  return ip;
}

function namespaceOf(m: Record<string, unknown>): string {
  return typeof m['namespace'] === 'string' && m['namespace'] !== '' ? m['namespace'] : 'default';
}

const hasValue = (o: Record<string, unknown>, k: string) => o[k] !== undefined && o[k] !== null;

// --- kinds -------------------------------------------------------------------------------------------------------

function decodeEgress(ctx: Ctx, o: Record<string, unknown>, apiVersion: string): Egress | undefined {
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

function decodePool(ctx: Ctx, o: Record<string, unknown>, apiVersion: string): ExternalIPPool | undefined {
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

function decodeNode(ctx: Ctx, o: Record<string, unknown>, ignored: string[]): Node | undefined {
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
  if (ctx.errorCount === before && nodeTransportIP(node) === null)
    ctx.error('status.addresses', 'Required value: a Node needs an IPv4 InternalIP address (its transport IP)');
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

function decodeNamespace(ctx: Ctx, o: Record<string, unknown>, ignored: string[]): Namespace | undefined {
  ctx.known(o, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  const metadata = decodeMeta(ctx, o['metadata'], { namespaced: false, nameRule: 'label' });
  if (!metadata) return undefined;
  if (hasValue(o, 'spec')) ignored.push('spec');
  if (hasValue(o, 'status')) ignored.push('status');
  metadata.labels[LABEL_NAMESPACE_NAME] = metadata.name;
  return { apiVersion: 'v1', kind: 'Namespace', metadata };
}

function decodePod(ctx: Ctx, o: Record<string, unknown>, ignored: string[]): Pod | undefined {
  ctx.known(o, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  const metadata = decodeMeta(ctx, o['metadata'], { namespaced: true, nameRule: 'subdomain' });
  if (!metadata) return undefined;
  const before = ctx.errorCount;
  const spec: Pod['spec'] = {};
  if (hasValue(o, 'spec')) {
    const s = ctx.map(o['spec'], 'spec');
    if (s) {
      ignored.push(...ctx.unknown(s, 'spec', ['nodeName', 'hostNetwork']));
      if (hasValue(s, 'nodeName') && s['nodeName'] !== '') {
        const n = ctx.str(s['nodeName'], 'spec.nodeName');
        if (n !== undefined) spec.nodeName = n;
      }
      if (hasValue(s, 'hostNetwork')) {
        const h = ctx.bool(s['hostNetwork'], 'spec.hostNetwork');
        if (h !== undefined) spec.hostNetwork = h;
      }
    }
  }
  const status: Pod['status'] = {};
  if (hasValue(o, 'status')) {
    const st = ctx.map(o['status'], 'status');
    if (st) {
      ignored.push(...ctx.unknown(st, 'status', ['podIP', 'podIPs']));
      if (hasValue(st, 'podIP') && st['podIP'] !== '') {
        const ip = ctx.str(st['podIP'], 'status.podIP');
        if (ip !== undefined && ipFormatError(ctx, ip, 'status.podIP', 'an IP address')) status.podIP = ip;
      }
      if (hasValue(st, 'podIPs')) {
        const l = ctx.list(st['podIPs'], 'status.podIPs');
        const ips: { ip: string }[] = [];
        l?.forEach((item, i) => {
          const p = joinPath('status.podIPs', i);
          const m = ctx.map(item, p);
          if (!m) return;
          ctx.known(m, p, ['ip']);
          if (!ctx.required(m, 'ip', p)) return;
          const ip = ctx.str(m['ip'], joinPath(p, 'ip'));
          if (ip !== undefined && ipFormatError(ctx, ip, joinPath(p, 'ip'), 'an IP address')) ips.push({ ip });
        });
        if (status.podIP !== undefined && ips.length > 0 && canonicalIP(ips[0]!.ip) !== canonicalIP(status.podIP))
          ctx.error('status.podIPs', `Invalid value: "${ips[0]!.ip}": must match status.podIP ("${status.podIP}")`);
        status.podIPs = ips;
      }
    }
  }
  if (ctx.errorCount !== before) return undefined;
  return { apiVersion: 'v1', kind: 'Pod', metadata: metadata as Pod['metadata'], spec, status };
}

function decodeConfigMap(ctx: Ctx, o: Record<string, unknown>, source: Source): ConfigMap | undefined {
  ctx.known(o, '', ['apiVersion', 'kind', 'metadata', 'data', 'binaryData', 'immutable']);
  const metadata = decodeMeta(ctx, o['metadata'], { namespaced: true, nameRule: 'subdomain' });
  if (!metadata) return undefined;
  const before = ctx.errorCount;
  const data = hasValue(o, 'data') ? ctx.strMap(o['data'], 'data') : {};
  if (!data) return undefined;
  if (data[AGENT_CONF_KEY] === undefined) {
    ctx.error(
      'data',
      `Required value: only Antrea's antrea-config ConfigMap is understood: it needs data["${AGENT_CONF_KEY}"]`,
    );
    return undefined;
  }
  const cm: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: metadata as ConfigMap['metadata'], data };
  decodeEmbeddedConfig(ctx, cm, source);
  return ctx.errorCount === before ? cm : undefined;
}

function decodeAgentConfig(ctx: Ctx, o: Record<string, unknown>): AgentConfig | undefined {
  const metadata = decodeMeta(ctx, o['metadata'], {
    namespaced: false,
    nameRule: 'subdomain',
    optionalName: 'default',
  });
  if (!metadata) return undefined;
  ctx.name = metadata.name;
  const before = ctx.errorCount;
  const fields = decodeAgentConfigFields(ctx, o, '', true);
  if (fields.transportCIDR === undefined && !ctx.problems.some((p) => p.path === 'transportCIDR'))
    ctx.error('transportCIDR', 'Required value: the IPv4 subnet of the L2 segment the Nodes share');
  if (ctx.errorCount !== before) return undefined;
  return { apiVersion: ENGINE_API, kind: 'AgentConfig', metadata, ...fields };
}

function decodeExternalHost(ctx: Ctx, o: Record<string, unknown>): ExternalHost | undefined {
  ctx.known(o, '', ['apiVersion', 'kind', 'metadata', 'spec']);
  const metadata = decodeMeta(ctx, o['metadata'], { namespaced: false, nameRule: 'subdomain' });
  if (!ctx.required(o, 'spec', '')) return undefined;
  const s = ctx.map(o['spec'], 'spec');
  if (!s || !metadata) return undefined;
  ctx.known(s, 'spec', ['address', 'command']);
  const before = ctx.errorCount;
  let address: string | undefined;
  if (ctx.required(s, 'address', 'spec')) {
    address = ctx.str(s['address'], 'spec.address');
    if (address !== undefined) {
      const a = parseInterfaceAddress(address);
      if (!a || a.ip.family !== 4)
        ctx.error(
          'spec.address',
          `Invalid value: "${address}": must be an IPv4 address with its prefix (198.18.0.100/24)`,
        );
    }
  }
  let command: string[] | undefined;
  if (hasValue(s, 'command')) {
    command = ctx.strList(s['command'], 'spec.command');
    if (command && command.length === 0) ctx.error('spec.command', 'Invalid value: []: must not be empty when given');
  }
  if (ctx.errorCount !== before || address === undefined) return undefined;
  const spec: ExternalHost['spec'] = { address };
  if (command) spec.command = command;
  return { apiVersion: ENGINE_API, kind: 'ExternalHost', metadata, spec };
}

/**
 * Decode one document into an object (schema and object rules only). Problems are appended; returns null when the
 * document has errors.
 */
export function decodeDoc(doc: ManifestDoc, problems: Problem[]): Decoded | null {
  const ctx = new Ctx(problems, doc);
  const o = ctx.isMap(doc.value) ? doc.value : undefined;
  if (!o) {
    ctx.error(
      '',
      `a manifest document must be a mapping (got ${Array.isArray(doc.value) ? 'a sequence' : show(doc.value)})`,
    );
    return null;
  }
  const before = ctx.errorCount;
  const apiVersion = o['apiVersion'];
  const kind = o['kind'];
  const name = ctx.isMap(o['metadata']) ? o['metadata']['name'] : undefined;
  if (typeof kind === 'string') ctx.kind = kind;
  if (typeof name === 'string') ctx.name = name;
  if (typeof apiVersion !== 'string' || apiVersion === '') {
    ctx.error('apiVersion', 'Required value');
    return null;
  }
  if (typeof kind !== 'string' || kind === '') {
    ctx.error('kind', 'Required value');
    return null;
  }
  const kinds = KINDS_BY_API[apiVersion];
  if (!kinds || !kinds.includes(kind as Kind)) {
    ctx.error('kind', `no matches for kind "${kind}" in version "${apiVersion}"`);
    return null;
  }
  if (typeof name === 'string' && (kind === 'Pod' || kind === 'ConfigMap'))
    ctx.name = `${namespaceOf(o['metadata'] as Record<string, unknown>)}/${name}`;
  const ignored: string[] = [];
  let object: AnyObject | undefined;
  switch (kind as Kind) {
    case 'Egress':
      object = decodeEgress(ctx, o, apiVersion);
      break;
    case 'ExternalIPPool':
      object = decodePool(ctx, o, apiVersion);
      break;
    case 'Node':
      object = decodeNode(ctx, o, ignored);
      break;
    case 'Namespace':
      object = decodeNamespace(ctx, o, ignored);
      break;
    case 'Pod':
      object = decodePod(ctx, o, ignored);
      break;
    case 'ConfigMap':
      object = decodeConfigMap(ctx, o, doc);
      break;
    case 'AgentConfig':
      object = decodeAgentConfig(ctx, o);
      break;
    case 'ExternalHost':
      object = decodeExternalHost(ctx, o);
      break;
  }
  if (!object || ctx.errorCount !== before) return null;
  if (apiVersion === ANTREA_API_V1ALPHA2)
    ctx.warn('apiVersion', `${ANTREA_API_V1ALPHA2} is deprecated; stored as ${ANTREA_API}`);
  if (ignored.length > 0) ctx.warn('', `ignoring fields this engine does not model: ${ignored.join(', ')}`);
  return { object, source: doc, ignored };
}

// --- webhooks ----------------------------------------------------------------------------------------------------

/** Antrea's Egress webhook (CREATE compares against an empty Egress). */
export function egressWebhook(
  ctx: Ctx,
  next: Egress,
  old: Egress | null,
  pools: ReadonlyMap<string, ExternalIPPool>,
): void {
  const s = next.spec;
  if (s.egressIPs && s.egressIPs.length > 0) return ctx.error('spec.egressIPs', 'spec.egressIPs is not supported yet');
  if (s.externalIPPools && s.externalIPPools.length > 0)
    return ctx.error('spec.externalIPPools', 'spec.externalIPPools is not supported yet');
  if (s.bandwidth) {
    const re = quantityError(s.bandwidth.rate);
    if (re)
      return ctx.error(
        'spec.bandwidth.rate',
        `Rate ${s.bandwidth.rate} in Egress ${next.metadata.name} is invalid: ${re}`,
      );
    const be = quantityError(s.bandwidth.burst);
    if (be)
      return ctx.error(
        'spec.bandwidth.burst',
        `Burst ${s.bandwidth.burst} in Egress ${next.metadata.name} is invalid: ${be}`,
      );
  }
  const oldIP = old?.spec.egressIP ?? '';
  const oldPool = old?.spec.externalIPPool ?? '';
  if ((s.egressIP ?? '') === oldIP && (s.externalIPPool ?? '') === oldPool) return;
  if (!s.egressIP || !s.externalIPPool) return;
  const ip = parseIP(s.egressIP);
  if (!ip) return ctx.error('spec.egressIP', `IP ${s.egressIP} is not valid`);
  const pool = pools.get(s.externalIPPool);
  if (!pool) return ctx.error('spec.externalIPPool', `ExternalIPPool ${s.externalIPPool} does not exist`);
  if (!poolAllocator(pool).has(ip)) return ctx.error('spec.egressIP', `IP ${s.egressIP} is not within the IP range`);
}

interface NormalizedRange {
  start: IP;
  end: IP;
  origin: string;
  index: number;
}

function normalizeRange(ctx: Ctx, r: IPRange, index: number): NormalizedRange | null {
  const path = joinPath('spec.ipRanges', index);
  if (r.cidr !== undefined) {
    const p = parseCIDR(r.cidr);
    if (!p) {
      ctx.error(path, `invalid cidr ${r.cidr}`);
      return null;
    }
    const [a, b] = prefixBounds(p);
    return {
      start: { family: p.family, value: a },
      end: { family: p.family, value: b },
      origin: `range [${r.cidr}]`,
      index,
    };
  }
  const start = parseIP(r.start);
  if (!start) {
    ctx.error(path, `invalid start ip address ${r.start}`);
    return null;
  }
  const end = parseIP(r.end);
  if (!end) {
    ctx.error(path, `invalid end ip address ${r.end}`);
    return null;
  }
  if (start.family !== end.family) {
    ctx.error(path, `range start ${r.start} and range end ${r.end} should belong to same family`);
    return null;
  }
  if (compareIP(start, end) > 0) {
    ctx.error(path, `range start ${r.start} should not be greater than range end ${r.end}`);
    return null;
  }
  return { start, end, origin: `range [${r.start}-${r.end}]`, index };
}

function overlaps(a: NormalizedRange, b: NormalizedRange): boolean {
  return a.start.family === b.start.family && compareIP(a.start, b.end) <= 0 && compareIP(a.end, b.start) >= 0;
}

/** Ranges of a pool as the webhook normalizes them (errors dropped: the pool was validated). */
export function normalizedRanges(pool: ExternalIPPool): NormalizedRange[] {
  const scratch = new Ctx([], null);
  return pool.spec.ipRanges.map((r, i) => normalizeRange(scratch, r, i)).filter((x): x is NormalizedRange => !!x);
}

/**
 * Antrea's ExternalIPPool webhook: ranges parse, same family, start ≤ end, inside subnetInfo, no overlap inside the
 * pool or with any range of `others`; on UPDATE, no existing range removed or changed.
 */
export function poolWebhook(
  ctx: Ctx,
  next: ExternalIPPool,
  old: ExternalIPPool | null,
  others: readonly ExternalIPPool[],
): void {
  const si = next.spec.subnetInfo;
  let subnet: Prefix | null = null;
  if (si) {
    const gw = parseIP(si.gateway);
    if (!gw) return ctx.error('spec.subnetInfo.gateway', `invalid gateway address ${si.gateway}`);
    const max = gw.family === 4 ? 32 : 128;
    if (si.prefixLength <= 0 || si.prefixLength >= max)
      return ctx.error('spec.subnetInfo.prefixLength', `invalid prefixLength ${si.prefixLength}`);
    subnet = parseCIDR(`${formatIP(gw)}/${si.prefixLength}`);
  }
  const current: NormalizedRange[] = [];
  for (let i = 0; i < next.spec.ipRanges.length; i++) {
    const cur = normalizeRange(ctx, next.spec.ipRanges[i]!, i);
    if (!cur) return;
    const path = joinPath('spec.ipRanges', i);
    if (subnet && !(prefixContains(subnet, cur.start) && prefixContains(subnet, cur.end)))
      return ctx.error(path, `${cur.origin} must be a strict subset of the subnet ${si!.gateway}/${si!.prefixLength}`);
    for (const ex of current) {
      if (overlaps(cur, ex)) return ctx.error(path, `${cur.origin} overlaps with ${ex.origin}`);
    }
    for (const other of others) {
      if (other.metadata.name === next.metadata.name) continue;
      for (const ex of normalizedRanges(other)) {
        if (overlaps(cur, ex))
          return ctx.error(path, `${cur.origin} overlaps with ${ex.origin} of pool ${other.metadata.name}`);
      }
    }
    current.push(cur);
  }
  if (old) {
    const rangeText = (r: IPRange) => r.cidr ?? `${r.start}-${r.end}`;
    const now = new Set(next.spec.ipRanges.map(rangeText));
    const removed = [...new Set(old.spec.ipRanges.map(rangeText))].filter((x) => !now.has(x)).sort();
    if (removed.length > 0)
      ctx.error('spec.ipRanges', `existing IPRanges [${removed.join(' ')}] cannot be updated or deleted`);
  }
}

// --- cross-object rules ------------------------------------------------------------------------------------------

/** Maps an object key to the context its problems go to (its document when it is in the applied set). */
export type CtxFor = (o: AnyObject) => Ctx;

/**
 * Rules between objects of the resulting state. Errors about objects outside the applied set are reported without a
 * source. `inSet(o)` says whether an object comes from the applied set (warnings are only reported for those).
 */
export function crossCheck(state: ClusterState, ctxFor: CtxFor, inSet: (o: AnyObject) => boolean): void {
  const cfg: ResolvedConfig = resolveConfig(state.config);
  const seg = cfg.transportCIDR ? parseCIDR(cfg.transportCIDR) : null;
  const svc = cfg.serviceCIDR ? parseCIDR(cfg.serviceCIDR) : null;
  const gw = cfg.defaultGateway ? parseIP(cfg.defaultGateway) : null;

  // Nodes: unique transport IPs on the segment, disjoint pod CIDRs, unique static IP declarations.
  const nodeByIP = new Map<string, Node>();
  const podCidrs: { node: Node; prefix: Prefix; text: string }[] = [];
  const staticOwner = new Map<string, Node>();
  const nodes = [...state.nodes.values()].sort(setFirst(inSet));
  for (const n of nodes) {
    const ctx = ctxFor(n);
    const tip = nodeTransportIP(n)!;
    const ip = parseIP(tip)!;
    const key = formatIP(ip);
    const other = nodeByIP.get(key);
    if (other)
      ctx.error('status.addresses', `InternalIP ${tip} is also the transport IP of Node ${other.metadata.name}`);
    else nodeByIP.set(key, n);
    if (seg && !prefixContains(seg, ip))
      ctx.error('status.addresses', `InternalIP ${tip} is not inside transportCIDR ${cfg.transportCIDR}`);
    if (gw && ip.value === gw.value && gw.family === 4)
      ctx.error('status.addresses', `InternalIP ${tip} is the segment's defaultGateway`);
    const pc = nodePodCIDR(n);
    if (pc) {
      const p = parseCIDR(pc)!;
      for (const o of podCidrs) {
        if (prefixesOverlap(o.prefix, p))
          ctx.error('spec.podCIDR', `Pod CIDR ${pc} overlaps the Pod CIDR ${o.text} of Node ${o.node.metadata.name}`);
      }
      if (seg && prefixesOverlap(seg, p))
        ctx.error('spec.podCIDR', `Pod CIDR ${pc} overlaps transportCIDR ${cfg.transportCIDR}`);
      if (svc && prefixesOverlap(svc, p))
        ctx.error('spec.podCIDR', `Pod CIDR ${pc} overlaps serviceCIDR ${cfg.serviceCIDR}`);
      podCidrs.push({ node: n, prefix: p, text: pc });
    }
    for (const s of nodeStaticIPs(n)) {
      const sip = parseIP(s);
      if (!sip) continue;
      const k = formatIP(sip);
      const path = joinPath('metadata.annotations', ANNOTATION_STATIC_EGRESS_IPS);
      const prev = staticOwner.get(k);
      if (prev && prev !== n) ctx.error(path, `static Egress IP ${s} is also declared by Node ${prev.metadata.name}`);
      staticOwner.set(k, n);
    }
  }
  for (const n of nodes) {
    for (const s of nodeStaticIPs(n)) {
      const sip = parseIP(s);
      const owner = sip ? nodeByIP.get(formatIP(sip)) : undefined;
      if (owner && owner !== n)
        ctxFor(n).error(
          joinPath('metadata.annotations', ANNOTATION_STATIC_EGRESS_IPS),
          `static Egress IP ${s} is the transport IP of Node ${owner.metadata.name}`,
        );
    }
  }

  // Pods: Namespace and Node exist, unique IPs inside their Node's Pod CIDR.
  const podByIP = new Map<string, Pod>();
  for (const p of [...state.pods.values()].sort(setFirst(inSet))) {
    const ctx = ctxFor(p);
    if (!namespaceLabels(state, p.metadata.namespace))
      ctx.error('metadata.namespace', `namespaces "${p.metadata.namespace}" not found`);
    const node = p.spec.nodeName ? state.nodes.get(p.spec.nodeName) : undefined;
    if (p.spec.nodeName && !node) ctx.error('spec.nodeName', `Node "${p.spec.nodeName}" not found`);
    if (p.spec.hostNetwork) continue;
    const ipText = podIPv4(p);
    if (!ipText) continue;
    const ip = parseIP(ipText)!;
    const k = formatIP(ip);
    const other = podByIP.get(k);
    if (other)
      ctx.error(
        'status.podIP',
        `IP ${ipText} is also the IP of Pod ${other.metadata.namespace}/${other.metadata.name}`,
      );
    else podByIP.set(k, p);
    if (!p.spec.nodeName && inSet(p))
      ctx.warn('spec.nodeName', 'the Pod is not scheduled to a Node: no Egress applies to it');
    const pc = node ? nodePodCIDR(node) : null;
    if (node && pc && !prefixContains(parseCIDR(pc)!, ip))
      ctx.error('status.podIP', `IP ${ipText} is not inside the Pod CIDR ${pc} of Node ${node.metadata.name}`);
    if (nodeByIP.has(k))
      ctx.error('status.podIP', `IP ${ipText} is the transport IP of Node ${nodeByIP.get(k)!.metadata.name}`);
  }

  // External hosts: on the segment, unique, not a Node's or a pool's address.
  const hostByIP = new Map<string, ExternalHost>();
  for (const h of [...state.externalHosts.values()].sort(setFirst(inSet))) {
    const ctx = ctxFor(h);
    const a = parseInterfaceAddress(h.spec.address)!;
    const k = formatIP(a.ip);
    if (!seg)
      ctx.error('spec.address', 'an ExternalHost needs an AgentConfig with transportCIDR (the segment it is on)');
    else if (!prefixContains(seg, a.ip))
      ctx.error('spec.address', `${k} is not inside transportCIDR ${cfg.transportCIDR}`);
    else if (a.prefix.len !== seg.len || a.prefix.addr !== seg.addr)
      ctx.warn('spec.address', `prefix /${a.prefix.len} differs from transportCIDR ${cfg.transportCIDR}`);
    const other = hostByIP.get(k);
    if (other) ctx.error('spec.address', `${k} is also the address of ExternalHost ${other.metadata.name}`);
    else hostByIP.set(k, h);
    const node = nodeByIP.get(k);
    if (node) ctx.error('spec.address', `${k} is the transport IP of Node ${node.metadata.name}`);
    if (staticOwner.has(k))
      ctx.error('spec.address', `${k} is a static Egress IP of Node ${staticOwner.get(k)!.metadata.name}`);
    for (const pool of state.pools.values()) {
      if (poolAllocator(pool).has(a.ip))
        ctx.error('spec.address', `${k} is inside ExternalIPPool ${pool.metadata.name}`);
    }
  }

  // Pools: informational warnings about addresses an allocation could collide with.
  for (const pool of state.pools.values()) {
    if (!inSet(pool)) continue;
    const ctx = ctxFor(pool);
    const alloc = poolAllocator(pool);
    for (const [k, n] of nodeByIP) {
      if (alloc.has(parseIP(k)!))
        ctx.warn(
          'spec.ipRanges',
          `the pool contains ${k}, the transport IP of Node ${n.metadata.name}: it may be handed out`,
        );
    }
    if (gw && alloc.has(gw))
      ctx.warn('spec.ipRanges', `the pool contains the segment's defaultGateway ${cfg.defaultGateway}`);
    if (seg && !pool.spec.subnetInfo) {
      for (const r of normalizedRanges(pool)) {
        if (r.start.family === 4 && !(prefixContains(seg, r.start) && prefixContains(seg, r.end)))
          ctx.warn(
            joinPath('spec.ipRanges', r.index),
            `${r.origin} is outside transportCIDR ${cfg.transportCIDR} and the pool has no subnetInfo: its IPs are not reachable on the segment`,
          );
      }
    }
  }

  // Egresses: informational warnings.
  for (const e of state.egresses.values()) {
    if (!inSet(e)) continue;
    const ctx = ctxFor(e);
    if (!e.spec.appliedTo.podSelector && !e.spec.appliedTo.namespaceSelector)
      ctx.warn('spec.appliedTo', 'empty appliedTo selects no Pod');
    const ipText = e.spec.egressIP;
    if (!ipText) continue;
    const ip = parseIP(ipText)!;
    const k = formatIP(ip);
    const node = nodeByIP.get(k);
    if (e.spec.externalIPPool) {
      if (node) ctx.warn('spec.egressIP', `${ipText} is the transport IP of Node ${node.metadata.name}`);
    } else if (!node && !staticOwner.has(k)) {
      ctx.warn(
        'spec.egressIP',
        `static egressIP ${ipText} is on no Node (neither a Node's InternalIP nor in a Node's ${ANNOTATION_STATIC_EGRESS_IPS} annotation): its Pods fall back to their Node's IP`,
      );
    }
    if (ip.family === 6)
      ctx.warn(
        'spec.egressIP',
        'IPv6 Egress IPs are allocated and scheduled, but the datapath is IPv4: its Pods use their Node IP',
      );
  }
  for (const e of state.egresses.values()) {
    if (inSet(e) && e.spec.bandwidth && !cfg.trafficShaping)
      ctxFor(e).warn('spec.bandwidth', 'ignored: feature gate EgressTrafficShaping is disabled');
  }

  if (!cfg.egressEnabled && state.egresses.size > 0) {
    const any = [...state.egresses.values()].find(inSet) ?? (state.config && inSet(state.config) ? state.config : null);
    if (any)
      ctxFor(any).warn(
        '',
        `feature gate Egress is disabled: ${state.egresses.size} Egress object(s) are ignored and Pods leave with their Node's IP`,
      );
  }
}

function setFirst(inSet: (o: AnyObject) => boolean) {
  return (a: AnyObject, b: AnyObject) => {
    const d = (inSet(a) ? 1 : 0) - (inSet(b) ? 1 : 0);
    if (d !== 0) return d; // stored objects first, so duplicates are reported on the new document
    return keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0;
  };
}
