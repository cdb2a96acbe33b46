/**
 * Heartbeats (cold path, 20 per second per peer by default): encode + HMAC-SHA256, decode + verify, a full
 * `Membership.receive`, and one `tick` that emits heartbeats for 10 peers. Shows what a node spends per peer.
 */
import {
  decodeHeartbeat,
  encodeHeartbeat,
  makeKey,
  Membership,
  type Heartbeat,
  type Outgoing,
} from '../../engine/cluster/index.js';
import type { Suite } from '../harness.js';

const N = 256;
const KEY = makeKey(new Uint8Array(32).map((_, i) => (i * 29 + 3) & 0xff));
const KEYS = [KEY];
const ip = (i: number) => (198 << 24) | (18 << 16) | (i + 10) | 0;
const HB: Heartbeat = {
  flags: 1,
  revivals: 0,
  incarnation: 1_760_000_000_000,
  counter: 1,
  echo: 1_760_000_000_500,
  dstIp: ip(1),
  intervalMs: 50,
  viewSize: 11,
  viewDigest: 0x12345678,
  name: 'worker-node-07.cluster.local',
};
let sink = 0;
const encoded = encodeHeartbeat(HB, KEY);

// Receive: one sender's datagrams to one receiver, pre-encoded in order (fresh counters) and cycled. Once a cycle is
// used up the same datagrams come back as `replayed`, which costs the same (decode + MAC + checks).
const peers = Array.from({ length: 10 }, (_, i) => ({ name: `node-${i}`, ip: ip(i) }));
const rxSelf = peers[0]!;
let receiver: Membership;
let stream: Outgoing[] = [];
let si = 0;
let rxNow = 0;
function setupReceive(): void {
  const sender = new Membership({ self: peers[1]!, peers, key: KEY, incarnation: 5 }, 0);
  receiver = new Membership({ self: rxSelf, peers, key: KEY, incarnation: 7 }, 0);
  // Handshake so that the sender echoes the receiver's incarnation.
  for (const o of receiver.tick(0).send) if (o.node === 'node-1') sender.receive(rxSelf.ip, o.payload, 0);
  stream = [];
  for (let t = 0; stream.length < 4096; t += 50) {
    for (const o of sender.tick(t).send) if (o.node === rxSelf.name) stream.push(o);
  }
  si = 0;
}

let ticker: Membership;
let tickNow = 0;

const suite: Suite = {
  name: 'cluster',
  cases: [
    {
      name: 'encode+hmac',
      ops: N,
      fn: () => {
        for (let i = 0; i < N; i++) sink ^= encodeHeartbeat({ ...HB, counter: i + 1 }, KEY)[80]!;
      },
    },
    {
      name: 'decode+verify',
      ops: N,
      fn: () => {
        const b = encoded;
        for (let i = 0; i < N; i++) sink ^= decodeHeartbeat(b, KEYS).verdict;
      },
    },
    {
      name: 'membership.receive',
      ops: N,
      setup: setupReceive,
      fn: () => {
        if (!receiver) setupReceive();
        for (let i = 0; i < N; i++) {
          const o = stream[si]!;
          si = (si + 1) % stream.length;
          sink ^= receiver.receive(ip(1), o.payload, (rxNow += 0.2)).verdict;
        }
      },
    },
    {
      name: 'membership.tick/10-peers',
      ops: 1,
      setup: () => {
        ticker = new Membership({ self: rxSelf, peers, key: KEY, incarnation: 9 }, 0);
        tickNow = 0;
      },
      fn: () => {
        if (!ticker) ticker = new Membership({ self: rxSelf, peers, key: KEY, incarnation: 9 }, 0);
        // One interval per call: every call emits a heartbeat to each of the 9 peers (nobody answers, so they
        // go dead after 500 ms; heartbeats to dead peers cost the same).
        sink ^= ticker.tick((tickNow += 50)).send.length;
      },
      facts: () => ({ heartbeatsPerTick: 9, datagramBytes: encoded.length }),
    },
  ],
};
export default suite;
export const _sink = () => sink;
