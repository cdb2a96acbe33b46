/**
 * Rate meters of hosted egress IPs (an Egress's `spec.bandwidth`, docs/semantics.md §4.g): one token bucket per
 * egress IP, shared by every pod whose traffic leaves with that IP, local or tunnelled, as Antrea's OVS meter (a
 * drop band of `rate` kbit/s with a `burst` kbit bucket) is shared by the Egress's pods. Like the OVS meter it
 * polices, never queues: a packet that finds too few tokens is dropped (snat counts `drop-rate-limited`).
 *
 * A bucket holds bits: it fills at `rate` bits per millisecond (kbit/s), up to `burst` kbit × 1000, and a packet
 * takes its frame length on the wire (IP length + 14, the bytes an OVS meter counts) × 8. It starts full. A
 * reconfiguration (the view changed) keeps the tokens of an IP that keeps a meter, capped at its new burst, so
 * changing the rate live neither refills nor empties the bucket. Time is the round's clock (`NodeState.now`), so
 * replay is deterministic. Typed arrays over one slot per metered IP: nothing allocates per packet.
 */
import { Int32Map } from './tables.js';

export interface MeterConfig {
  /** kbit/s (Antrea: `Quantity.Value() / 1000`). */
  readonly rateKbps: number;
  /** kbit. */
  readonly burstKbps: number;
}

/** Bytes an Ethernet frame adds to its IP packet (no FCS, no VLAN tag): what a meter counts beyond the IP length. */
const ETHERNET_HEADER = 14;

export class RateMeters {
  private slotOf = new Int32Map();
  /** Per slot: bits per millisecond, bucket size (bits), tokens (bits), time of the last update (ms). */
  private rate = new Float64Array(0);
  private burst = new Float64Array(0);
  private tokens = new Float64Array(0);
  private last = new Float64Array(0);
  private ips = new Int32Array(0);

  /** Metered egress IPs. */
  get size(): number {
    return this.ips.length;
  }

  /** Replace the meters (cold path); an IP metered before and after keeps its tokens (capped at the new burst). */
  configure(meters: ReadonlyMap<number, MeterConfig> | undefined, now: number): void {
    const list = [...(meters ?? new Map<number, MeterConfig>())].filter(([, m]) => m.rateKbps > 0);
    const n = list.length;
    const rate = new Float64Array(n);
    const burst = new Float64Array(n);
    const tokens = new Float64Array(n);
    const last = new Float64Array(n);
    const ips = new Int32Array(n);
    const slotOf = new Int32Map(n);
    list.forEach(([ip, m], s) => {
      ips[s] = ip | 0;
      rate[s] = m.rateKbps;
      burst[s] = m.burstKbps * 1000;
      const old = this.slotOf.get(ip | 0, -1);
      if (old >= 0) {
        this.refill(old, now);
        tokens[s] = Math.min(this.tokens[old]!, burst[s]!);
      } else tokens[s] = burst[s]!;
      last[s] = now;
      slotOf.set(ip | 0, s);
    });
    this.rate = rate;
    this.burst = burst;
    this.tokens = tokens;
    this.last = last;
    this.ips = ips;
    this.slotOf = slotOf;
  }

  /**
   * Take the tokens for an IP packet of `ipLen` bytes leaving with address `ip` at `now` (ms): true when it may
   * go (or `ip` has no meter), false when the bucket is short (the packet is dropped; its bits are not taken).
   */
  take(ip: number, ipLen: number, now: number): boolean {
    const s = this.slotOf.get(ip, -1);
    if (s < 0) return true;
    this.refill(s, now);
    const bits = (ipLen + ETHERNET_HEADER) * 8;
    const t = this.tokens[s]!;
    if (t < bits) return false;
    this.tokens[s] = t - bits;
    return true;
  }

  private refill(s: number, now: number): void {
    const dt = now - this.last[s]!;
    if (dt <= 0) return; // the clock never goes back; a second packet of the same round adds nothing
    this.last[s] = now;
    const t = this.tokens[s]! + dt * this.rate[s]!;
    const b = this.burst[s]!;
    this.tokens[s] = t > b ? b : t;
  }

  /** Per metered IP: rate, burst and the tokens left (cold path: counters, `get counters`). */
  snapshot(): Array<{ ip: number; rateKbps: number; burstKbit: number; tokensBits: number }> {
    return [...this.ips].map((ip, s) => ({
      ip,
      rateKbps: this.rate[s]!,
      burstKbit: this.burst[s]! / 1000,
      tokensBits: this.tokens[s]!,
    }));
  }
}
