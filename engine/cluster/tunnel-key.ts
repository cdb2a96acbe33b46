/**
 * The Geneve tunnel authentication subkey (docs/tunnel-auth.md): the first 16 bytes of
 * HMAC-SHA256(cluster key, "egress-engine geneve tunnel auth v1"), a SipHash-2-4 key. Derived, so the cluster key
 * itself never keys two algorithms, and a tunnel tag reveals nothing about the heartbeat MAC key. Every node holding
 * the cluster key derives the same subkey; the option carries the cluster key's id.
 */
import { createHmac } from 'node:crypto';
import type { HeartbeatKey } from './key.js';

const TUNNEL_KEY_LABEL = 'egress-engine geneve tunnel auth v1';

/** The 16-byte tunnel subkey of a cluster key. */
export function tunnelAuthKey(key: HeartbeatKey): Uint8Array {
  return new Uint8Array(createHmac('sha256', key.key).update(TUNNEL_KEY_LABEL).digest().subarray(0, 16));
}
