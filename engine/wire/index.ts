/**
 * engine/wire: pure functions over `(view: DataView, off: number)` for each protocol the engine parses or
 * writes, plus value forms (`Repr`, parse/emit) for cold paths. Contract (smoltcp `wire`): once a protocol's
 * `check()` returned OK for a range, its accessors read only inside that range; `check()` never throws.
 * Imports nothing of ours.
 */
export * as arp from './arp.js';
export * as checksum from './checksum.js';
export * as ethernet from './ethernet.js';
export * as format from './format.js';
export * as geneve from './geneve.js';
export * as geneveAuth from './geneve-auth.js';
export * as icmp from './icmp.js';
export * as icmpv6 from './icmpv6.js';
export * as ipv4 from './ipv4.js';
export * as ipv6 from './ipv6.js';
export * as ndp from './ndp.js';
export * as siphash from './siphash.js';
export * as tcp from './tcp.js';
export * as udp from './udp.js';
export * as verdict from './verdict.js';
