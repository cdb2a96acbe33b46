/**
 * UDP (Linux nf_conntrack_udp_packet: unreplied 30 s; replied within the first 2 s still 30 s; a packet after
 * 2 s with traffic seen both ways → 120 s and ASSURED) and ICMP echo (nf_conntrack_icmp_packet: 30 s, refreshed
 * by requests and replies; a reply does not close it), and ICMP errors matched as related.
 */
import { describe, expect, it } from 'vitest';
import { UPDATE_ACCEPT, UPDATE_INVALID, UPDATE_RECREATE } from '../../conntrack/index.js';
import { ICMP, TCP, UDP, ip, open, table, at } from './helpers.js';

const POD = ip('10.244.1.5');
const EXT = ip('198.18.0.53');

describe('UDP', () => {
  it('unreplied: 30 s, refreshed by each original packet', () => {
    const t = table();
    const c = at(t, 0).create(POD, EXT, 5353, 53, UDP, 0, 60);
    at(t, 0).confirm(c);
    expect(t.expiresAt(c)).toBe(30_000);
    expect(t.seenReply(c)).toBe(false);
    at(t, 10_000).update(c, 0, 0, 60);
    expect(t.expiresAt(c)).toBe(40_000);
    expect(t.isAssured(c)).toBe(false);
  });

  it('a reply inside the first 2 s keeps 30 s and does not assure (DNS-style one-shot)', () => {
    const t = table();
    const c = at(t, 0).create(POD, EXT, 5353, 53, UDP, 0, 60);
    at(t, 0).confirm(c);
    at(t, 50).update(c, 1, 0, 120);
    expect(t.seenReply(c)).toBe(true);
    expect(t.expiresAt(c)).toBe(30_050);
    at(t, 2000).update(c, 0, 0, 60); // exactly 2 s: not after
    expect(t.expiresAt(c)).toBe(32_000);
    expect(t.isAssured(c)).toBe(false);
  });

  it('traffic both ways and a packet after 2 s: stream, 120 s, ASSURED', () => {
    const t = table();
    const c = at(t, 0).create(POD, EXT, 5353, 53, UDP, 0, 60);
    at(t, 0).confirm(c);
    at(t, 100).update(c, 1, 0, 120);
    at(t, 2001).update(c, 0, 0, 60);
    expect(t.isAssured(c)).toBe(true);
    expect(t.expiresAt(c)).toBe(2001 + 120_000);
    at(t, 5000).update(c, 1, 0, 60);
    expect(t.expiresAt(c)).toBe(5000 + 120_000);
  });

  it('a late first reply (after 2 s) refreshes to 30 s only; the next packet makes it a stream', () => {
    const t = table();
    const c = at(t, 0).create(POD, EXT, 5353, 53, UDP, 0, 60);
    at(t, 0).confirm(c);
    at(t, 5000).update(c, 1, 0, 60); // SEEN_REPLY was not set before this packet
    expect(t.isAssured(c)).toBe(false);
    expect(t.expiresAt(c)).toBe(35_000);
    at(t, 6000).update(c, 1, 0, 60);
    expect(t.isAssured(c)).toBe(true);
    expect(t.expiresAt(c)).toBe(126_000);
  });

  it('times out and is recreated; timeouts are configurable', () => {
    const t = table({ timeouts: { udp: 5, udpStream: 50 } });
    const c = at(t, 0).create(POD, EXT, 5353, 53, UDP, 0, 60);
    at(t, 0).confirm(c);
    expect(t.expiresAt(c)).toBe(5000);
    expect(at(t, 5000).update(c, 0, 0, 60)).toBe(UPDATE_RECREATE);
    const d = at(t, 5000).create(POD, EXT, 5353, 53, UDP, 0, 60);
    at(t, 5000).confirm(d);
    at(t, 5001).update(d, 1, 0, 60);
    at(t, 8000).update(d, 0, 0, 60);
    expect(t.expiresAt(d)).toBe(58_000);
  });
});

describe('ICMP echo', () => {
  it('request opens, reply refreshes for 30 s and does not close (Linux keeps it for duplicate replies)', () => {
    const t = table();
    const c = at(t, 0).create(POD, EXT, 0x1234, 0x1234, ICMP, 8, 84);
    expect(c).toBeGreaterThanOrEqual(0);
    at(t, 0).confirm(c);
    expect(t.expiresAt(c)).toBe(30_000);
    const r = t.lookup(EXT, POD, 0x1234, 0x1234, ICMP);
    expect(r).toBe((c << 1) | 1);
    expect(at(t, 100).update(c, 1, 0, 84)).toBe(UPDATE_ACCEPT);
    expect(t.seenReply(c)).toBe(true);
    expect(t.expiresAt(c)).toBe(30_100);
    expect(t.isLive(c)).toBe(true);
    expect(at(t, 200).update(c, 1, 0, 84)).toBe(UPDATE_ACCEPT); // duplicate reply
    expect(t.isAssured(c)).toBe(false); // ICMP is never assured: always early-droppable
  });

  it('rejects a request in the reply direction and a reply in the original direction', () => {
    const t = table();
    const c = open(t, '10.244.1.5', '198.18.0.53', 7, 7, ICMP);
    expect(at(t, 1).update(c, 1, 8, 84)).toBe(UPDATE_INVALID);
    expect(at(t, 1).update(c, 0, 0, 84)).toBe(UPDATE_INVALID);
    expect(at(t, 1).update(c, 0, 13, 84)).toBe(UPDATE_INVALID);
    expect(t.counter('update-invalid')).toBe(3);
  });

  it('translates the echo identifier like a port under SNAT', () => {
    const t = table();
    const a = open(t, '10.244.1.5', '198.18.0.53', 77, 77, ICMP, 0, '198.19.0.1');
    const b = open(t, '10.244.1.6', '198.18.0.53', 77, 77, ICMP, 0, '198.19.0.1');
    expect(t.natPort(a)).toBe(77);
    expect(t.natPort(b)).not.toBe(77);
    expect(t.replySport(b)).toBe(t.natPort(b)); // id in both halves
    expect(t.lookup(ip('198.18.0.53'), ip('198.19.0.1'), t.natPort(b), t.natPort(b), ICMP)).toBe((b << 1) | 1);
    expect(t.rewritePort(b, 1)).toBe(77);
    expect(t.rewriteAddr(b, 1)).toBe(ip('10.244.1.6'));
  });
});

describe('ICMP errors (related)', () => {
  const NAT = '198.19.0.1';

  it('an error toward the egress IP quoting our translated packet belongs to the connection, reply direction', () => {
    const t = table();
    const c = at(t, 0).create(POD, EXT, 40000, 443, TCP, 2, 60);
    t.snat(c, ip(NAT));
    at(t, 0).confirm(c);
    // A router answers "time exceeded" to 198.19.0.1 quoting the packet as it left: src NAT:natPort → EXT:443.
    const v = t.lookupRelated(ip(NAT), EXT, t.natPort(c), 443, TCP);
    expect(v).toBe((c << 1) | 1);
    // Rewrite: outer destination → the pod; quoted source → pod address and port.
    expect(t.rewriteAddr(c, 1)).toBe(POD);
    expect(t.rewritePort(c, 1)).toBe(40000);
    expect(t.counter('related-hit')).toBe(1);
  });

  it('an error from the pod about a reply it received travels in the original direction', () => {
    const t = table();
    const c = at(t, 0).create(POD, EXT, 40000, 53, UDP, 0, 60);
    t.snat(c, ip(NAT));
    at(t, 0).confirm(c);
    // The pod answers port-unreachable quoting the (already translated back) reply EXT:53 → POD:40000.
    const v = t.lookupRelated(EXT, POD, 53, 40000, UDP);
    expect(v).toBe(c << 1);
    expect(t.rewriteAddr(c, 0)).toBe(ip(NAT));
    expect(t.rewritePort(c, 0)).toBe(t.natPort(c));
  });

  it('quoted ICMP echo (id in both ports) and unknown tuples', () => {
    const t = table();
    const c = open(t, '10.244.1.5', '198.18.0.53', 9, 9, ICMP, 0, NAT);
    expect(t.lookupRelated(ip(NAT), EXT, t.natPort(c), t.natPort(c), ICMP)).toBe((c << 1) | 1);
    expect(t.lookupRelated(ip(NAT), EXT, 1, 2, UDP)).toBe(-1);
    expect(t.counter('related-miss')).toBe(1);
  });
});
