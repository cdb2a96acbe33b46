/**
 * The agent configuration: decoding (the AgentConfig kind, or `antrea-agent.conf` inside Antrea's antrea-config
 * ConfigMap) and resolution with Antrea's defaults (`build/charts/antrea/conf/antrea-agent.conf`,
 * `cmd/antrea-agent/options.go`).
 */
import { parseEmbedded } from './manifest.js';
import { parseCIDR, parseIP, prefixBounds, prefixContains } from './ip.js';
import type { AgentConfig, AgentConfigFields, ConfigMap } from './model.js';
import { Ctx, joinPath } from './problems.js';
import type { Problem, Source } from './problems.js';

/** Feature gates this engine knows, with Antrea's defaults. */
export const FEATURE_GATES: Readonly<Record<string, boolean>> = {
  Egress: true, // beta since v1.6
  EgressTrafficShaping: false, // alpha
  EgressSeparateSubnet: true, // beta since v2.3
};

export const DEFAULT_MAX_EGRESS_IPS_PER_NODE = 255;
export const GENEVE_PORT = 6081;
export const DEFAULT_CLUSTER_PORT = 10351;
export const DEFAULT_TRANSPORT_MTU = 1500;
/** Ethernet 14 + IPv4 20 + UDP 8 + Geneve 8 (`geneveOverhead`). */
export const GENEVE_OVERHEAD = 50;

export const AGENT_CONF_KEY = 'antrea-agent.conf';
export const CONTROLLER_CONF_KEY = 'antrea-controller.conf';

/** Top-level fields of the AgentConfig kind besides apiVersion/kind/metadata. */
export const AGENT_CONFIG_FIELDS = [
  'featureGates',
  'egress',
  'snatFullyRandomPorts',
  'trafficEncapMode',
  'tunnelType',
  'tunnelPort',
  'clusterPort',
  'serviceCIDR',
  'serviceCIDRv6',
  'defaultMTU',
  'transportInterfaceMTU',
  'transportCIDR',
  'defaultGateway',
  'transportCIDRv6',
  'defaultGatewayv6',
] as const;

export interface ResolvedConfig {
  /** Feature gate `Egress`. Off: Egress objects are ignored (no allocation, no scheduling, Pods use the Node IP). */
  readonly egressEnabled: boolean;
  readonly trafficShaping: boolean;
  readonly separateSubnet: boolean;
  readonly exceptCIDRs: readonly string[];
  readonly maxEgressIPsPerNode: number;
  readonly snatFullyRandomPorts: boolean;
  readonly tunnelPort: number;
  readonly clusterPort: number;
  readonly serviceCIDR: string | null;
  /** The IPv6 service CIDR of a dual-stack cluster (bypassed by IPv6 Egress like `serviceCIDR`). */
  readonly serviceCIDRv6: string | null;
  readonly transportCIDR: string | null;
  readonly defaultGateway: string | null;
  /** The segment's on-link IPv6 prefix and IPv6 router (docs/ipv6.md §2.c), null when not configured. */
  readonly transportCIDRv6: string | null;
  readonly defaultGatewayv6: string | null;
  /** Transport (uplink) MTU. */
  readonly mtu: number;
  /** Pod MTU: `defaultMTU` when set, else transport MTU − 50. */
  readonly podMtu: number;
  /** Where it came from (`AgentConfig/name`, `ConfigMap/ns/name`), or null for the built-in defaults. */
  readonly source: string | null;
}

/**
 * Decode the option fields of an agent configuration from a map. `strict`: unknown fields are errors (AgentConfig);
 * otherwise warnings (a real antrea-agent.conf has many options this engine does not implement).
 */
export function decodeAgentConfigFields(
  ctx: Ctx,
  o: Record<string, unknown>,
  path: string,
  strict: boolean,
): AgentConfigFields {
  const f: AgentConfigFields = {};
  const unknown = Object.keys(o).filter(
    (k) => !(AGENT_CONFIG_FIELDS as readonly string[]).includes(k) && !['apiVersion', 'kind', 'metadata'].includes(k),
  );
  for (const k of unknown) {
    if (strict) ctx.error(joinPath(path, k), `unknown field "${joinPath(path, k)}"`);
  }
  if (!strict && unknown.length > 0)
    ctx.warn(path, `ignoring options this engine does not implement: ${unknown.join(', ')}`);
  const p = (k: string) => joinPath(path, k);

  if (o['featureGates'] !== undefined && o['featureGates'] !== null) {
    const m = ctx.map(o['featureGates'], p('featureGates'));
    if (m) {
      const gates: Record<string, boolean> = {};
      for (const [g, v] of Object.entries(m)) {
        const gp = joinPath(p('featureGates'), g);
        if (!Object.hasOwn(FEATURE_GATES, g)) {
          if (strict) ctx.error(gp, `unrecognized feature gate: ${g}`);
          else ctx.warn(gp, `feature gate ${g} is not implemented by this engine; ignored`);
          continue;
        }
        const b = ctx.bool(v, gp);
        if (b !== undefined) gates[g] = b;
      }
      f.featureGates = gates;
    }
  }
  if (o['egress'] !== undefined && o['egress'] !== null) {
    const ep = p('egress');
    const m = ctx.map(o['egress'], ep);
    if (m) {
      const eg: NonNullable<AgentConfigFields['egress']> = {};
      const known = ['exceptCIDRs', 'maxEgressIPsPerNode', 'snatFullyRandomPorts'];
      for (const k of Object.keys(m)) {
        if (known.includes(k)) continue;
        if (strict) ctx.error(joinPath(ep, k), `unknown field "${joinPath(ep, k)}"`);
        else ctx.warn(joinPath(ep, k), 'ignoring an option this engine does not implement');
      }
      if (m['exceptCIDRs'] !== undefined && m['exceptCIDRs'] !== null) {
        const l = ctx.strList(m['exceptCIDRs'], joinPath(ep, 'exceptCIDRs'));
        if (l) {
          l.forEach((c, i) => {
            if (!parseCIDR(c))
              ctx.error(joinPath(joinPath(ep, 'exceptCIDRs'), i), `Invalid value: "${c}": must be a CIDR`);
          });
          eg.exceptCIDRs = l;
        }
      }
      if (m['maxEgressIPsPerNode'] !== undefined && m['maxEgressIPsPerNode'] !== null) {
        const mp = joinPath(ep, 'maxEgressIPsPerNode');
        const n = ctx.int(m['maxEgressIPsPerNode'], mp);
        if (n !== undefined) {
          if (n > DEFAULT_MAX_EGRESS_IPS_PER_NODE)
            ctx.error(mp, `maxEgressIPsPerNode cannot be greater than ${DEFAULT_MAX_EGRESS_IPS_PER_NODE}`);
          else if (n < 0)
            ctx.error(
              mp,
              `Invalid value: ${n}: must be between 0 (default ${DEFAULT_MAX_EGRESS_IPS_PER_NODE}) and 255`,
            );
          else eg.maxEgressIPsPerNode = n;
        }
      }
      if (m['snatFullyRandomPorts'] !== undefined && m['snatFullyRandomPorts'] !== null) {
        const b = ctx.bool(m['snatFullyRandomPorts'], joinPath(ep, 'snatFullyRandomPorts'));
        if (b !== undefined) eg.snatFullyRandomPorts = b;
      }
      f.egress = eg;
    }
  }
  const optBool = (k: 'snatFullyRandomPorts') => {
    if (o[k] === undefined || o[k] === null) return;
    const b = ctx.bool(o[k], p(k));
    if (b !== undefined) f[k] = b;
  };
  optBool('snatFullyRandomPorts');
  const optInt = (k: 'tunnelPort' | 'clusterPort' | 'defaultMTU' | 'transportInterfaceMTU', lo: number, hi: number) => {
    if (o[k] === undefined || o[k] === null) return;
    const n = ctx.int(o[k], p(k));
    if (n === undefined) return;
    if (n !== 0 && (n < lo || n > hi))
      ctx.error(p(k), `Invalid value: ${n}: must be 0 (default) or between ${lo} and ${hi}`);
    else f[k] = n;
  };
  optInt('tunnelPort', 1, 65535);
  optInt('clusterPort', 1, 65535);
  optInt('defaultMTU', 68, 65000);
  optInt('transportInterfaceMTU', 576, 65535);
  if (o['trafficEncapMode'] !== undefined && o['trafficEncapMode'] !== null) {
    const s = ctx.str(o['trafficEncapMode'], p('trafficEncapMode'));
    if (s !== undefined) {
      if (s !== 'encap') ctx.error(p('trafficEncapMode'), `Unsupported value: "${s}": supported values: "encap"`);
      else f.trafficEncapMode = 'encap';
    }
  }
  if (o['tunnelType'] !== undefined && o['tunnelType'] !== null) {
    const s = ctx.str(o['tunnelType'], p('tunnelType'));
    if (s !== undefined) {
      if (s !== 'geneve') ctx.error(p('tunnelType'), `Unsupported value: "${s}": supported values: "geneve"`);
      else f.tunnelType = 'geneve';
    }
  }
  const optCidr = (k: 'serviceCIDR' | 'serviceCIDRv6' | 'transportCIDR' | 'transportCIDRv6', family: 4 | 6) => {
    if (o[k] === undefined || o[k] === null || o[k] === '') return;
    const s = ctx.str(o[k], p(k));
    if (s === undefined) return;
    const c = parseCIDR(s);
    if (!c || c.family !== family) ctx.error(p(k), `Invalid value: "${s}": must be an IPv${family} CIDR`);
    else f[k] = s;
  };
  optCidr('serviceCIDR', 4);
  optCidr('serviceCIDRv6', 6);
  optCidr('transportCIDR', 4);
  optCidr('transportCIDRv6', 6);
  if (f.transportCIDR !== undefined && parseCIDR(f.transportCIDR)!.len > 30)
    ctx.error(p('transportCIDR'), `Invalid value: "${f.transportCIDR}": the segment needs a prefix of /30 or shorter`);
  if (o['defaultGateway'] !== undefined && o['defaultGateway'] !== null && o['defaultGateway'] !== '') {
    const s = ctx.str(o['defaultGateway'], p('defaultGateway'));
    if (s !== undefined) {
      const ip = parseIP(s);
      const seg = f.transportCIDR !== undefined ? parseCIDR(f.transportCIDR) : null;
      if (!ip || ip.family !== 4) ctx.error(p('defaultGateway'), `Invalid value: "${s}": must be an IPv4 address`);
      else if (seg && !prefixContains(seg, ip))
        ctx.error(p('defaultGateway'), `Invalid value: "${s}": must be inside transportCIDR ${f.transportCIDR}`);
      else if (seg && (ip.value === prefixBounds(seg)[0] || ip.value === prefixBounds(seg)[1]))
        ctx.error(
          p('defaultGateway'),
          `Invalid value: "${s}": is the network or broadcast address of ${f.transportCIDR}`,
        );
      else f.defaultGateway = s;
    }
  }
  if (o['defaultGatewayv6'] !== undefined && o['defaultGatewayv6'] !== null && o['defaultGatewayv6'] !== '') {
    const s = ctx.str(o['defaultGatewayv6'], p('defaultGatewayv6'));
    if (s !== undefined) {
      const ip = parseIP(s);
      const seg = f.transportCIDRv6 !== undefined ? parseCIDR(f.transportCIDRv6) : null;
      if (!ip || ip.family !== 6) ctx.error(p('defaultGatewayv6'), `Invalid value: "${s}": must be an IPv6 address`);
      else if (seg && !prefixContains(seg, ip))
        ctx.error(p('defaultGatewayv6'), `Invalid value: "${s}": must be inside transportCIDRv6 ${f.transportCIDRv6}`);
      else f.defaultGatewayv6 = s;
    }
  }
  return f;
}

/** Decoded options of an antrea-config ConfigMap (its antrea-agent.conf, and the controller's Egress gate). */
export interface EmbeddedConfig {
  fields: AgentConfigFields;
  controllerEgressGate?: boolean;
}

/**
 * Decode the embedded configuration texts of a ConfigMap. `source` (the ConfigMap's document) maps embedded lines
 * back to the file; problems go to `ctx`.
 */
export function decodeEmbeddedConfig(ctx: Ctx, cm: ConfigMap, source: Source | null): EmbeddedConfig {
  const out: EmbeddedConfig = { fields: {} };
  const load = (key: string): { m: Record<string, unknown>; sub: Ctx; path: string } | null => {
    const text = cm.data[key];
    if (text === undefined) return null;
    const path = joinPath('data', key);
    const first = source ? source.lineOf(path) + 1 : 1;
    const parsed = parseEmbedded(text, first);
    for (const e of parsed.errors) ctx.error(path, `YAML (line ${e.line}): ${e.message}`);
    if (parsed.errors.length > 0) return null;
    const sub = new Ctx(ctx.problems, source ? embeddedSource(source, path, parsed.lineOf) : null, ctx.kind, ctx.name);
    if (parsed.value === null || parsed.value === undefined) return { m: {}, sub, path };
    const m = sub.map(parsed.value, path);
    return m ? { m, sub, path } : null;
  };
  const agent = load(AGENT_CONF_KEY);
  if (agent) out.fields = decodeAgentConfigFields(agent.sub, agent.m, agent.path, false);
  const controller = load(CONTROLLER_CONF_KEY);
  if (controller) {
    const gates = controller.m['featureGates'];
    if (gates && typeof gates === 'object' && !Array.isArray(gates)) {
      const g = (gates as Record<string, unknown>)['Egress'];
      if (typeof g === 'boolean') out.controllerEgressGate = g;
    }
  }
  return out;
}

/** A Source whose paths under `prefix` resolve inside an embedded document. */
function embeddedSource(outer: Source, prefix: string, inner: (p: string) => number): Source {
  return {
    file: outer.file,
    doc: outer.doc,
    lineOf(path: string): number {
      if (path === prefix) return inner('');
      if (path.startsWith(prefix + '.') || path.startsWith(prefix + '[')) {
        const rest = path.slice(prefix.length).replace(/^\./, '');
        return inner(rest);
      }
      return outer.lineOf(path);
    },
  };
}

/** The option fields of a configuration document (a ConfigMap's texts are decoded again, problems dropped). */
export function configFields(doc: AgentConfig | ConfigMap | null): EmbeddedConfig {
  if (!doc) return { fields: {} };
  if (doc.kind === 'AgentConfig') return { fields: doc };
  const scratch: Problem[] = [];
  return decodeEmbeddedConfig(new Ctx(scratch, null), doc, null);
}

export function resolveConfig(doc: AgentConfig | ConfigMap | null): ResolvedConfig {
  const { fields: f, controllerEgressGate } = configFields(doc);
  const gates = { ...FEATURE_GATES, ...(f.featureGates ?? {}) };
  const mtu = f.transportInterfaceMTU && f.transportInterfaceMTU > 0 ? f.transportInterfaceMTU : DEFAULT_TRANSPORT_MTU;
  const max = f.egress?.maxEgressIPsPerNode;
  return {
    egressEnabled: gates['Egress'] === true && controllerEgressGate !== false,
    trafficShaping: gates['EgressTrafficShaping'] === true,
    separateSubnet: gates['EgressSeparateSubnet'] === true,
    exceptCIDRs: f.egress?.exceptCIDRs ?? [],
    maxEgressIPsPerNode: max === undefined || max === 0 ? DEFAULT_MAX_EGRESS_IPS_PER_NODE : max,
    snatFullyRandomPorts: f.egress?.snatFullyRandomPorts ?? f.snatFullyRandomPorts ?? false,
    tunnelPort: f.tunnelPort && f.tunnelPort > 0 ? f.tunnelPort : GENEVE_PORT,
    clusterPort: f.clusterPort && f.clusterPort > 0 ? f.clusterPort : DEFAULT_CLUSTER_PORT,
    serviceCIDR: f.serviceCIDR ?? null,
    serviceCIDRv6: f.serviceCIDRv6 ?? null,
    transportCIDR: f.transportCIDR ?? null,
    defaultGateway: f.defaultGateway ?? null,
    transportCIDRv6: f.transportCIDRv6 ?? null,
    defaultGatewayv6: f.defaultGatewayv6 ?? null,
    mtu,
    podMtu: f.defaultMTU && f.defaultMTU > 0 ? f.defaultMTU : mtu - GENEVE_OVERHEAD,
    source: doc
      ? doc.kind === 'AgentConfig'
        ? `AgentConfig/${doc.metadata.name}`
        : `ConfigMap/${doc.metadata.namespace}/${doc.metadata.name}`
      : null,
  };
}
