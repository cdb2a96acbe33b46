/**
 * The per-connection parts of an agent's report (run file and metrics): a bounded sample of each connection
 * table and the SNAT usage per egress IP, from a cursor walk cut into slices (conntrack TableSurvey).
 *
 * Why: a walk of the whole table runs on the event loop; at 65 536 connections a full dump took 1.6–1.8 s and a
 * SNAT usage walk 55–70 ms per scrape, long enough for peers to declare the node dead (issue 11). Here a pass
 * starts at most once per report (every second); each slice visits at most 8 192 records, accounts at most
 * 1 024 live connections and builds at most 32 entry objects, and the next slice runs from `setImmediate`, so
 * packets, heartbeats and timers run between slices. Readers (`details`, `snatPortsUsed`) only read the last
 * finished pass: nothing that serves a report or a scrape walks a table.
 */
import { conntrack } from '../../engine/index.js';

/** Connections of each table the run file carries as objects. */
export const SAMPLE_PER_TABLE = 256;

export interface ConnectionDetails {
  /** Sample of the outbound table (first SAMPLE_PER_TABLE confirmed connections in table order). */
  entries: conntrack.ConnDump[];
  /** Sample of the inbound table (connections pods accepted). */
  inbound: conntrack.ConnDump[];
  /** Confirmed connections the pass met, per table (the sample's population). */
  confirmed: { outbound: number; inbound: number };
  snat: conntrack.EgressIpUsage[];
  /** When the pass ended (ISO time). */
  updated: string;
  /** Slices the pass took (both tables). */
  slices: number;
}

export interface ConnectionSurveysOptions {
  /** Runs the next slice later; default `setImmediate` (after pending I/O). */
  schedule?: (fn: () => void) => void;
  /** Monotonic ms for the entries' timeouts. */
  now: () => number;
  /** Called when a slice throws (the pass is abandoned; the next report starts a new one). */
  onFault?: (e: unknown) => void;
  survey?: conntrack.SurveyOptions;
}

export class ConnectionSurveys {
  private readonly out: conntrack.TableSurvey;
  private readonly inb: conntrack.TableSurvey;
  private readonly schedule: (fn: () => void) => void;
  private last: ConnectionDetails | null = null;
  private usage: Record<string, number> = {};
  private ports: Record<string, number> = {};
  private slices = 0;
  private busy = false;
  private stopped = false;

  constructor(
    outbound: conntrack.ConnTable,
    inbound: conntrack.ConnTable,
    private readonly o: ConnectionSurveysOptions,
  ) {
    const so = { sample: SAMPLE_PER_TABLE, ...o.survey };
    this.out = new conntrack.TableSurvey(outbound, so);
    this.inb = new conntrack.TableSurvey(inbound, so);
    this.schedule = o.schedule ?? ((fn) => void setImmediate(fn));
  }

  /** Start a pass over both tables unless one is under way, and run its first slice now. */
  tick(): void {
    if (this.busy || this.stopped) return;
    this.busy = true;
    this.slices = 0;
    this.out.start();
    this.slice();
  }

  /** The last finished pass (null before the first one ends). Never walks a table. */
  details(): ConnectionDetails | null {
    return this.last;
  }

  /** Distinct SNAT ports in use per egress IP (summed over protocols) from the last finished pass. Never walks a table. */
  snatPortsUsed(): Record<string, number> {
    return this.ports;
  }

  /** Translated connections per egress IP from the last finished pass. Never walks a table. */
  snatConnections(): Record<string, number> {
    return this.usage;
  }

  stop(): void {
    this.stopped = true;
  }

  private slice(): void {
    if (this.stopped) return;
    try {
      const now = this.o.now();
      this.slices++;
      if (this.out.running) {
        if (this.out.step(now)) this.inb.start();
      } else if (this.inb.running && this.inb.step(now)) {
        this.finish();
        return;
      }
    } catch (e) {
      this.busy = false;
      this.o.onFault?.(e);
      return;
    }
    this.schedule(() => this.slice());
  }

  private finish(): void {
    const a = this.out.last!;
    const b = this.inb.last!;
    this.last = {
      entries: a.entries,
      inbound: b.entries,
      confirmed: { outbound: a.confirmed, inbound: b.confirmed },
      snat: a.snat,
      updated: new Date().toISOString(),
      slices: this.slices,
    };
    const usage: Record<string, number> = {};
    const ports: Record<string, number> = {};
    const sum = (r: Record<string, number>) => Object.values(r).reduce((x, y) => x + y, 0);
    for (const u of a.snat) {
      usage[u.natIp] = sum(u.connections);
      ports[u.natIp] = sum(u.distinctPorts);
    }
    this.usage = usage;
    this.ports = ports;
    this.busy = false;
  }
}
