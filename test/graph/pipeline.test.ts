import { describe, expect, it } from 'vitest';
import { Burst, Counters, Pipeline, PipelineError, Slab, type Stage } from '../../engine/index.js';
import { ListPort } from '../support/list-port.js';

/** Sends packets whose first byte is even to exit 0 ('even'), odd to 'odd', empty to 'bad'. */
class Split implements Stage {
  readonly name = 'split';
  readonly exits = ['even', 'odd', 'bad'] as const;
  readonly counters = new Counters(['drop-empty']);
  process(b: Burst, sel: Int32Array, n: number): number {
    const u8 = b.slab.u8;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      if (b.len[i] === 0) {
        this.counters.v[0]++;
        b.next[i] = 2;
      } else b.next[i] = u8[b.off[i]!]! & 1;
    }
    return n;
  }
}

/** Forwards everything to its single exit, adding `tag` to the first byte. */
class Tag implements Stage {
  readonly exits = ['out'] as const;
  constructor(
    readonly name: string,
    private readonly tag: number,
  ) {}
  process(b: Burst, sel: Int32Array, n: number): number {
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      b.slab.u8[b.off[i]!] = (b.slab.u8[b.off[i]!]! + this.tag) & 0xff;
      b.next[i] = 0;
    }
    return n;
  }
}

const frame = (...bytes: number[]) => new Uint8Array(bytes);

describe('Pipeline', () => {
  function build() {
    const slab = new Slab({ slots: 64 });
    const p = new Pipeline(slab, {
      stages: [new Split(), new Tag('even-tag', 100), new Tag('odd-tag', 1)],
      ports: ['in', 'out-even', 'out-odd'],
      links: [
        'in:in -> split',
        'split.even -> even-tag',
        'split.odd -> odd-tag',
        'split.bad -> drop',
        'even-tag.out -> out:out-even',
        'odd-tag.out -> out:out-odd',
      ],
      burst: 16,
    });
    const ports = { in: new ListPort('in', 8), even: new ListPort('even'), odd: new ListPort('odd') };
    p.attach('in', ports.in);
    p.attach('out-even', ports.even);
    p.attach('out-odd', ports.odd);
    return { slab, p, ports };
  }

  it('moves packets along exits, counts exits, frees every slot', () => {
    const { slab, p, ports } = build();
    ports.in.queue.push(frame(2, 9), frame(3), frame(), frame(4, 4, 4), frame(5));
    expect(p.poll('in')).toBe(5);
    expect(ports.even.sent).toEqual([frame(102, 9), frame(104, 4, 4)]);
    expect(ports.odd.sent).toEqual([frame(4), frame(6)]);
    expect(ports.even.sendCalls).toBe(1); // one send per port per round
    const snap = p.snapshot();
    expect(snap['split']!.exits).toEqual({ even: 2, odd: 2, bad: 1 });
    expect(snap['split']!.counters).toEqual({ 'drop-empty': 1 });
    expect(snap['pipeline']!.counters).toMatchObject({ rx: 5, tx: 4, drop: 1 });
    expect(slab.available).toBe(slab.slots);
  });

  it('receives at most batchSize per poll and flushes a full output burst early', () => {
    const { slab, p, ports } = build();
    for (let i = 0; i < 20; i++) ports.in.queue.push(frame(2 * i));
    expect(p.poll('in')).toBe(8);
    expect(p.poll('in')).toBe(8);
    expect(p.poll('in')).toBe(4);
    expect(p.poll('in')).toBe(0);
    expect(ports.even.sent.length).toBe(20);
    expect(slab.available).toBe(slab.slots);
  });

  it('rejects a bad spec with a message naming the problem', () => {
    const slab = new Slab({ slots: 8 });
    const mk =
      (links: string[], stages: Stage[] = [new Split(), new Tag('t', 0)]) =>
      () =>
        new Pipeline(slab, { stages, ports: ['in', 'out'], links });
    const ok = ['in:in -> split', 'split.even -> t', 'split.odd -> drop', 'split.bad -> drop', 't.out -> out:out'];
    expect(mk(ok)).not.toThrow();
    expect(mk(ok.map((l) => l.replace('split.odd', 'split.nope')))).toThrow(/stage split has no exit nope/);
    expect(mk(ok.filter((l) => !l.startsWith('split.bad')))).toThrow(/exit split.bad is not linked/);
    expect(mk([...ok, 'split.bad -> drop'])).toThrow(/linked twice/);
    expect(mk(ok.map((l) => l.replace('-> t', '-> ghost')))).toThrow(/no stage named ghost/);
    expect(mk(ok.map((l) => l.replace('out:out', 'out:elsewhere')))).toThrow(/no port or group named elsewhere/);
    expect(
      mk(['in:in -> split', 'split.even -> drop', 'split.odd -> drop', 'split.bad -> drop', 't.out -> out:out']),
    ).toThrow(/stage t is unreachable/);
    expect(mk(['split even t'])).toThrow(/cannot parse link/);
    const cyc = [new Split(), new Tag('t', 0), new Tag('u', 0)];
    expect(
      mk(
        ['in:in -> split', 'split.even -> t', 'split.odd -> drop', 'split.bad -> drop', 't.out -> u', 'u.out -> t'],
        cyc,
      ),
    ).toThrow(/form a cycle/);
    expect(mk(ok)).toBeInstanceOf(Function);
    expect(() => mk(ok.map((l) => l.replace('split.odd', 'split.nope')))()).toThrow(PipelineError);
  });

  it('routes to port-group members by b.oport and drops for a missing member', () => {
    const slab = new Slab({ slots: 16 });
    const router: Stage = {
      name: 'router',
      exits: ['pod'],
      process(b, sel, n) {
        for (let k = 0; k < n; k++) {
          const i = sel[k]!;
          b.oport[i] = b.slab.u8[b.off[i]!]!;
          b.next[i] = 0;
        }
        return n;
      },
    };
    const p = new Pipeline(slab, {
      stages: [router],
      ports: ['in'],
      groups: ['pods'],
      links: ['in:in -> router', 'router.pod -> out:pods'],
    });
    const input = new ListPort('in');
    p.attach('in', input);
    const g = p.group('pods');
    const a = new ListPort('a');
    const b = new ListPort('b');
    expect(g.add(a)).toBe(0);
    expect(g.add(b)).toBe(1);
    input.queue.push(frame(1), frame(0), frame(7), frame(1));
    p.poll('in');
    expect(a.sent).toEqual([frame(0)]);
    expect(b.sent).toEqual([frame(1), frame(1)]);
    expect(p.counters.get('no-port')).toBe(1);
    g.remove(0);
    expect(g.add(new ListPort('c'))).toBe(0); // index reused
    expect(slab.available).toBe(slab.slots);
  });

  it('lets a stage generate packets and hold packets for a later round', () => {
    const slab = new Slab({ slots: 16 });
    const held: number[] = [];
    let releaseNow = false;
    // Holds every packet; on release returns them; generates one extra packet per held one on release.
    const hold: Stage = {
      name: 'hold',
      exits: ['out', 'keep'],
      release(b, sel, n) {
        if (!releaseNow) return n;
        for (const s of held.splice(0)) {
          const j = b.count++;
          b.slot[j] = s;
          b.off[j] = slab.start(s);
          b.len[j] = 1;
          sel[n++] = j;
          const g = b.alloc(1);
          b.slab.u8[b.off[g]!] = 0xee;
          sel[n++] = g;
        }
        return n;
      },
      process(b, sel, n) {
        for (let k = 0; k < n; k++) {
          const i = sel[k]!;
          if (releaseNow) b.next[i] = 0;
          else {
            held.push(b.slot[i]!);
            b.next[i] = 1;
          }
        }
        return n;
      },
    };
    const p = new Pipeline(slab, {
      stages: [hold],
      ports: ['in', 'out'],
      links: ['in:in -> hold', 'hold.out -> out:out', 'hold.keep -> consumed'],
    });
    const input = new ListPort('in');
    const out = new ListPort('out');
    p.attach('in', input);
    p.attach('out', out);
    input.queue.push(frame(5), frame(6));
    p.poll('in');
    expect(out.sent).toEqual([]);
    expect(slab.available).toBe(slab.slots - 2);
    releaseNow = true;
    p.run();
    expect(out.sent).toEqual([frame(5), frame(0xee), frame(6), frame(0xee)]);
    expect(slab.available).toBe(slab.slots);
  });

  it('prints itself as Graphviz dot', () => {
    const { p } = build();
    const dot = p.toDot('node-a');
    expect(dot).toContain('digraph "node-a" {');
    expect(dot).toContain('"port:in" -> "split";');
    expect(dot).toContain('"split" -> "even-tag" [label="even"];');
    expect(dot).toContain('"split" -> "drop" [label="bad"];');
    expect(dot).toContain('"odd-tag" -> "port:out-odd" [label="out"];');
  });
});
