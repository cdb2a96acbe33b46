/**
 * Connection-state sync (docs/conntrack-sync.md), the cold path around the datapath, on the reference cluster
 * (examples/reference: node-c owns 198.18.0.253, node-a is its standby):
 *
 * - `send/4k`: the owner's side of one sweep — scan, export, encode, HMAC-SHA256 — of 4096 connections (half UDP,
 *   half TCP with its window: 32 and 80 bytes a record) that are all due (refresh interval 0), per record.
 * - `stream/4k`: the same plus the standby's side — verify, judge, store in its cache — per record; its ratio to
 *   `send/4k` is the owner's share, the difference of their ns/op the standby's. Records/s is what sync sustains.
 * - `takeover/1k`, `takeover/100k`: one call fills the standby's cache with N connections (the stream above) and
 *   takes the IP over into an empty table (install, bindings reserved); `facts` give the takeover alone (median
 *   of 5 timed runs, ms: what it adds to the failover gap) and the heap the cache costs per connection.
 *
 * The datapath's cost with sync on vs off is in the pipeline suite (`snat+tick+sync`, `snat-new+tick+sync`).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConnTable, importReplica, TCP_ESTABLISHED } from '../../conntrack/index.js';
import { ConnSync } from '../../engine/agent/conn-sync.js';
import { makeKey } from '../../engine/cluster/index.js';
import { applyDocs, emptyState, parseManifests, type ClusterState } from '../../engine/policy/index.js';
import { ipv4 } from '../../engine/wire/index.js';
import type { BenchCase, Suite } from '../harness.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const ip = (s: string) => ipv4.parseAddr(s)!;
const KEY = makeKey(new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff));
const OWNER_IP = ip('198.18.0.13');
const STANDBY_IP = ip('198.18.0.11');
const EGRESS = ip('198.18.0.253');
const SHOWIP = ip('198.18.0.100');
const ALL = new Set(['node-a', 'node-b', 'node-c']);

let cluster: ClusterState | null = null;
export function referenceState(): ClusterState {
  if (cluster) return cluster;
  const text = readFileSync(resolve(ROOT, 'examples/reference/cluster.yaml'), 'utf8');
  return (cluster = applyDocs(emptyState(), parseManifests(text, 'cluster.yaml').docs, new Date(0)).state);
}

/** `n` connections SNATed to the egress IP, half UDP, half established TCP with a window. */
function fill(t: ConnTable, n: number): void {
  t.setTime(0);
  const win = Int32Array.from({ length: 12 }, (_, k) => 1000 + k);
  for (let i = 0; i < n; i++) {
    const src = ip('198.19.1.0') + (i >> 12);
    const sport = 1024 + (i & 4095);
    if (i & 1) {
      const r = importReplica(t, {
        src,
        dst: SHOWIP,
        sport,
        dport: 8080,
        proto: 6,
        natIp: EGRESS,
        natPort: 1024 + (i >> 1),
        state: TCP_ESTABLISHED,
        flags: 0,
        timeoutMs: 3_600_000,
        ageMs: 0,
        window: win,
      });
      if (r !== 0) throw new Error(`fill: import ${r}`);
    } else {
      const c = t.create(src, SHOWIP, sport, 9, 17, 0, 60);
      if (c < 0 || t.snat(c, EGRESS) !== 0 || !t.confirm(c)) throw new Error('fill: udp');
    }
  }
}

interface Pair {
  owner: ConnSync;
  standby: ConnSync;
  ownerTable: ConnTable;
  standbyTable: ConnTable;
  now: number;
}

/** An owner with `n` connections due at every tick (refresh 0, no per-round bound) and its standby. */
export function pair(n: number): Pair {
  const st = referenceState();
  const ownerTable = new ConnTable({ seed: 1, maxConnections: n });
  fill(ownerTable, n);
  const big = { scanBudget: ownerTable.recordCount, maxQueue: 2 * n, maxRecordsPerRound: 2 * n, refreshMs: 0 };
  const owner = new ConnSync({
    self: 'node-c',
    selfIp: OWNER_IP,
    incarnation: 10,
    key: KEY,
    table: ownerTable,
    ...big,
  });
  const standbyTable = new ConnTable({ seed: 2, maxConnections: n });
  const standby = new ConnSync({
    self: 'node-a',
    selfIp: STANDBY_IP,
    incarnation: 10,
    key: KEY,
    table: standbyTable,
    ...big,
  });
  owner.echoOf = () => 10;
  standby.echoOf = () => 10;
  owner.update(st, ALL, [EGRESS], 0);
  standby.update(st, ALL, [], 0);
  return { owner, standby, ownerTable, standbyTable, now: 1 };
}

/** One sweep of the owner; returns the records it sent. */
function send(p: Pair, deliver: boolean): number {
  const now = ++p.now;
  const before = p.owner.counter('records-sent');
  for (const m of p.owner.tick(now)) if (deliver) p.standby.receive(OWNER_IP, m.payload, now);
  return p.owner.counter('records-sent') - before;
}

const gc = (globalThis as { gc?: () => void }).gc;
/** Heap and array buffers in use (typed arrays live outside the heap). */
function heap(): number {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function takeoverCase(n: number, tag: string): BenchCase {
  let p: Pair | null = null;
  const takeover = (q: Pair): number => {
    q.standbyTable.clear();
    return q.standby.takeover([EGRESS], ++q.now);
  };
  return {
    name: `takeover/${tag}`,
    ops: n,
    measureAllocation: false,
    setup: () => (p = pair(n)),
    fn: () => {
      send(p!, true);
      if (takeover(p!) !== n) throw new Error('takeover: not every connection installed');
    },
    facts: () => {
      const h00 = heap();
      const q = pair(n);
      const h0 = heap();
      send(q, true);
      const h1 = heap();
      const ms: number[] = [];
      for (let k = 0; k < 5; k++) {
        if (k > 0) send(q, true);
        const t0 = performance.now();
        const got = takeover(q);
        ms.push(performance.now() - t0);
        if (got !== n) throw new Error('takeover: not every connection installed');
      }
      ms.sort((a, b) => a - b);
      return {
        takeoverMs: ms[2]!.toFixed(1),
        // what filling the cache with n connections added, and what the whole rig (two tables, two ConnSyncs,
        // the cache) holds per connection
        cacheGrowthBytesPerConn: Math.round((h1 - h0) / n),
        rigBytesPerConn: Math.round((h1 - h00) / n),
        cached: n,
      };
    },
  };
}

let sp: Pair | null = null;
let rp: Pair | null = null;
const suite: Suite = {
  name: 'conn-sync',
  cases: [
    {
      name: 'send/4k',
      ops: 4096,
      setup: () => {
        sp = pair(4096);
        send(sp, false);
      },
      fn: () => {
        if (send(sp!, false) !== 4096) throw new Error('send: short');
      },
      facts: () => ({
        bytesPerRecord: (sp!.owner.counter('bytes-sent') / sp!.owner.counter('records-sent')).toFixed(1),
      }),
    },
    {
      name: 'stream/4k',
      ops: 4096,
      baseline: 'conn-sync/send/4k',
      setup: () => {
        rp = pair(4096);
        send(rp, true);
      },
      fn: () => {
        if (send(rp!, true) !== 4096) throw new Error('stream: short');
      },
      facts: () => ({
        received: rp!.standby.counter('records-received'),
        cached: rp!.standby.snapshot()['cached']!,
        rxOk: rp!.standby.snapshot()['rx-ok']!,
      }),
    },
    takeoverCase(1000, '1k'),
    takeoverCase(100_000, '100k'),
  ],
};
export default suite;
