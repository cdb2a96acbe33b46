/**
 * summary.json's connection lists (engine/agent/replay-summary.ts): the total and the `top` connections by
 * packets (ties by index), or all in table order when there are no more than `top`. The expectation is made from
 * the whole table (`conntrack.dump`, every connection as an object) sorted here.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dump } from '../../conntrack/index.js';
import { Replay } from '../../engine/agent/replay.js';
import { summary } from '../../engine/agent/replay-summary.js';
import * as policy from '../../engine/policy/index.js';
import { ipv4, udp } from '../../engine/wire/index.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** UDP from prod/web-a (198.19.1.10, SNATed on node-c) to showip: source port 20000 + f sent f % 7 + 1 times. */
function run(): Replay {
  const parsed = policy.parseManifests(readFileSync(join(ROOT, 'examples/reference/cluster.yaml'), 'utf8'), 'c.yaml');
  const applied = policy.applyDocs(policy.emptyState(), parsed.docs, new Date(0));
  expect(applied.ok).toBe(true);
  if (!applied.ok) throw new Error('refused');
  const r = new Replay({ state: applied.state, reflect: true });
  const pkt = new Uint8Array(28);
  const v = new DataView(pkt.buffer);
  let t = 0;
  for (let f = 0; f < 40; f++)
    for (let n = 0; n <= f % 7; n++) {
      ipv4.emit(
        {
          tos: 0,
          id: t,
          flagsFrag: ipv4.FLAG_DF,
          ttl: 64,
          proto: 17,
          src: ipv4.parseAddr('198.19.1.10')!,
          dst: ipv4.parseAddr('198.18.0.100')!,
          options: new Uint8Array(0),
          payloadLen: 8,
        },
        v,
        0,
      );
      udp.emit({ srcPort: 20000 + f, dstPort: 9, payloadLen: 0 }, v, 20);
      udp.fillChecksum(v, 0, 20);
      r.feed(pkt, 0, 28, 28, 101, 1767225600, t++ * 100_000);
    }
  r.finish();
  return r;
}

describe('replay summary: connections', () => {
  const r = run();
  const node = (s: ReturnType<typeof summary>, name: string) =>
    (s.nodes as Record<string, { conntrack: { total: number; top: unknown[] } }>)[name]!.conntrack;
  const all = dump(r.cluster.byName.get('node-c')!.runner.agent.datapath.state.ct);

  it('the top N by packets, ties by index', () => {
    expect(all.length).toBeGreaterThanOrEqual(40); // the 40 flows (and the cluster's own)
    const pk = (c: (typeof all)[number]) => c.orig.packets + c.reply.packets;
    const want = [...all].sort((a, b) => pk(b) - pk(a) || a.id - b.id).slice(0, 5);
    const got = node(summary(r, { top: 5 }), 'node-c');
    expect(got.total).toBe(all.length);
    expect(got.top).toEqual(want);
    expect(want.map(pk).every((n) => n >= 14)).toBe(true); // the flows sent 7 times, both directions
  });

  it('all of them in table order when there are no more than top', () => {
    const got = node(summary(r, { top: 1000 }), 'node-c');
    expect(got.total).toBe(all.length);
    expect(got.top).toEqual(all);
  });
});
