/**
 * `egress get KIND` columns: one printer per kind (kubectl's printers), each a column list, the extra columns of
 * `-o wide` and a row function. What several rows need (placements, Pod counts per Egress) is computed once per
 * listing, on first use, by the context.
 */
import * as policy from '../engine/policy/index.js';
import { age } from './output.js';

/** Kinds whose objects live in a namespace (a NAMESPACE column unless -n). */
export const NAMESPACED: readonly policy.Kind[] = ['Pod', 'ConfigMap'];

/** A Node's STATUS as the agents report it (listing.ts nodeLiveness), and the egress IPs it hosts. */
export interface NodeLiveness {
  readonly status: 'Ready' | 'NotReady' | 'Unknown';
  /** Who sees it alive, or why it is not Ready. */
  readonly reason: string;
  readonly hosted: readonly string[];
}

/** What the rows of one listing read: the store's state, the Egress statuses, Node liveness, the time. */
export class PrintContext {
  private places: Map<string, policy.Placement> | null = null;
  private perEgress: Map<string, number> | null = null;
  constructor(
    readonly state: policy.ClusterState,
    readonly statuses: ReadonlyMap<string, policy.EgressStatus>,
    readonly now: Date,
    readonly liveness: ReadonlyMap<string, NodeLiveness> = new Map(),
  ) {}

  /** Placements as the merged status shows them (an Egress with an IP and a Node is placed). */
  placements(): Map<string, policy.Placement> {
    if (this.places) return this.places;
    const m = new Map<string, policy.Placement>();
    for (const [name, st] of this.statuses) {
      m.set(
        name,
        st.egressIP && st.egressNode
          ? { ok: true, ip: st.egressIP, node: st.egressNode, ha: !!this.state.egresses.get(name)?.spec.externalIPPool }
          : {
              ok: false,
              reason: st.conditions?.find((c) => c.type === 'IPAssigned')?.message ?? 'not assigned',
              scheduleError: null,
            },
      );
    }
    return (this.places = m);
  }

  /** Pods whose effective Egress each Egress is. */
  podsPerEgress(): Map<string, number> {
    if (this.perEgress) return this.perEgress;
    const m = new Map<string, number>();
    for (const p of this.state.pods.values()) {
      const pe = policy.podEgress(this.state, p, this.placements());
      if (pe.egress) m.set(pe.egress.metadata.name, (m.get(pe.egress.metadata.name) ?? 0) + 1);
    }
    return (this.perEgress = m);
  }
}

export interface Printer {
  readonly columns: readonly string[];
  /** Columns `-o wide` adds. */
  readonly wide: readonly string[];
  /** The cells of one object: `columns`, then `wide` when asked. */
  row(x: policy.AnyObject, c: PrintContext, wide: boolean): string[];
}

const created = (x: policy.AnyObject, c: PrintContext) => age(x.metadata.creationTimestamp, c.now);
const conditionsText = (st: policy.EgressStatus | undefined) =>
  (st?.conditions ?? []).map((c) => `${c.type}=${c.status}`).join(',');

export const PRINTERS: Readonly<Partial<Record<policy.Kind, Printer>>> = {
  Egress: {
    columns: ['NAME', 'EGRESSIP', 'AGE', 'NODE'],
    wide: ['EXTERNALIPPOOL', 'PODS', 'CONDITIONS'],
    row(x, c, wide) {
      const e = x as policy.Egress;
      const r = [e.metadata.name, e.status.egressIP, created(e, c), e.status.egressNode];
      if (wide)
        r.push(
          e.spec.externalIPPool ?? '',
          String(c.podsPerEgress().get(e.metadata.name) ?? 0),
          conditionsText(e.status),
        );
      return r;
    },
  },
  ExternalIPPool: {
    columns: ['NAME', 'TOTAL', 'USED', 'AGE'],
    wide: ['RANGES', 'NODESELECTOR'],
    row(x, c, wide) {
      const p = x as policy.ExternalIPPool;
      const r = [p.metadata.name, String(p.status.usage.total), String(p.status.usage.used), created(p, c)];
      if (wide)
        r.push(
          p.spec.ipRanges.map((g) => g.cidr ?? `${g.start}-${g.end}`).join(','),
          policy.formatSelector(p.spec.nodeSelector),
        );
      return r;
    },
  },
  Node: {
    columns: ['NAME', 'STATUS', 'INTERNAL-IP', 'POD-CIDR', 'EGRESS-IPS', 'AGE'],
    wide: ['MAX-EGRESS-IPS', 'REASON'],
    row(x, c, wide) {
      const n = x as policy.Node;
      const l = c.liveness.get(n.metadata.name);
      const r = [
        n.metadata.name,
        l?.status ?? 'Unknown',
        policy.nodeTransportIP(n) ?? '',
        policy.nodePodCIDR(n) ?? '',
        (l?.hosted ?? []).join(',') || '<none>',
        created(n, c),
      ];
      if (wide) {
        const max = policy.maxEgressIPs(n, policy.resolveConfig(c.state.config).maxEgressIPsPerNode);
        r.push(String(max), l?.reason ?? '');
      }
      return r;
    },
  },
  Pod: {
    columns: ['NAME', 'IP', 'NODE', 'AGE'],
    wide: ['EGRESS', 'EGRESSIP', 'EGRESSNODE'],
    row(x, c, wide) {
      const p = x as policy.Pod;
      const r = [p.metadata.name, policy.podIPv4(p) ?? p.status.podIP ?? '', p.spec.nodeName ?? '', created(p, c)];
      if (wide) {
        const pe = policy.podEgress(c.state, p, c.placements());
        r.push(pe.egress?.metadata.name ?? '', pe.placement?.ip ?? '', pe.placement?.node ?? '');
      }
      return r;
    },
  },
  Namespace: {
    columns: ['NAME', 'STATUS', 'AGE'],
    wide: [],
    row: (x, c) => [x.metadata.name, 'Active', created(x, c)],
  },
  ExternalHost: {
    columns: ['NAME', 'ADDRESS', 'AGE'],
    wide: ['COMMAND'],
    row(x, c, wide) {
      const h = x as policy.ExternalHost;
      const r = [h.metadata.name, h.spec.address, created(h, c)];
      if (wide) r.push((h.spec.command ?? []).map((a) => a.split('\n')[0]!).join(' '));
      return r;
    },
  },
};

/** Kinds without a printer of their own (AgentConfig, ConfigMap). */
export const DEFAULT_PRINTER: Printer = {
  columns: ['NAME', 'AGE'],
  wide: [],
  row: (x, c) => [x.metadata.name, created(x, c)],
};

/**
 * Header and rows of a listing of `objects` of one kind; `namespaceColumn` puts NAMESPACE first (a namespaced
 * kind listed without -n).
 */
export function printRows(
  kind: policy.Kind,
  objects: readonly policy.AnyObject[],
  c: PrintContext,
  o: { wide: boolean; namespaceColumn: boolean },
): { header: string[]; rows: string[][] } {
  const p = PRINTERS[kind] ?? DEFAULT_PRINTER;
  const ns = o.namespaceColumn && NAMESPACED.includes(kind);
  const header = o.wide ? [...p.columns, ...p.wide] : [...p.columns];
  const rows = objects.map((x) => p.row(x, c, o.wide));
  return ns
    ? { header: ['NAMESPACE', ...header], rows: rows.map((r, i) => [objects[i]!.metadata.namespace ?? '', ...r]) }
    : { header, rows };
}
