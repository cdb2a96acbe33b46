/**
 * The rate limit on the ICMP and ICMPv6 errors a node originates (RFC 1812 §4.3.2.8, RFC 4443 §2.4 f), as
 * Linux's global one (`net.ipv4.icmp_msgs_per_sec` 1000, `icmp_msgs_burst` 50, shared by both families): a
 * token bucket of `burst` errors filling at `perSecond`, starting full. Like Linux's default rate masks
 * (`icmp_ratemask`, `icmpv6.ratemask`), it applies to Time Exceeded and leaves the errors path MTU discovery
 * needs alone (IPv4 fragmentation needed, ICMPv6 Packet Too Big): those answer a sender about its own packet
 * and dropping them blackholes its connection. Time is the round's clock (`NodeState.now`, milliseconds), so
 * replay is deterministic; two numbers of state, nothing allocated.
 */
export class ErrorRateLimit {
  private tokens: number;
  private last = -Infinity;

  constructor(
    readonly perSecond = 1000,
    readonly burst = 50,
  ) {
    this.tokens = burst;
  }

  /** Whether an error may be sent at `now` (ms); takes its token when it may. */
  take(now: number): boolean {
    if (now > this.last) {
      if (this.last !== -Infinity)
        this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.perSecond) / 1000);
      this.last = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
