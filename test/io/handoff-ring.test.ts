/**
 * The handoff ring between datapath workers (engine/io/handoff-ring.ts): packets arrive whole and in order across
 * wrap-around, a full ring is a counted drop on both sides (never a wait), oversize packets are counted, one
 * burst is one notification, and a producer in another thread (written here from the layout alone, not with the
 * port's code) is drained through `onReadable` with every byte intact.
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { HandoffPort, HandoffRing } from '../../engine/io/index.js';
import { Burst, Slab } from '../../engine/packet/index.js';

function packet(k: number, len: number): Uint8Array {
  const u = new Uint8Array(len);
  for (let i = 0; i < len; i++) u[i] = (k * 31 + i * 7) & 0xff;
  u[0] = k & 0xff;
  u[1] = (k >> 8) & 0xff;
  return u;
}

function burstOf(slab: Slab, pkts: Uint8Array[]): Burst {
  const b = new Burst(slab, 256);
  for (const p of pkts) {
    const j = b.alloc(p.length);
    expect(j).toBeGreaterThanOrEqual(0);
    slab.u8.set(p, b.off[j]!);
  }
  return b;
}

describe('handoff ring', () => {
  it('moves bursts whole and in order across wrap-around; one notification per burst', () => {
    const ring = new HandoffRing({ slots: 8, slotSize: 256 });
    const a = new HandoffPort({ name: 'w0->w1', tx: ring, rx: null });
    const b = new HandoffPort({ name: 'w1<-w0', tx: null, rx: ring, portId: 3 });
    const slab = new Slab({ slots: 64 });
    const out = new Burst(slab, 256);
    let k = 0;
    for (let round = 0; round < 5; round++) {
      const pkts = [0, 1, 2, 3, 4].map(() => packet(k++, 40 + ((k * 13) % 200)));
      const seq = ring.seq;
      const src = burstOf(slab, pkts);
      a.send(src);
      src.freeAll();
      expect(ring.seq).toBe(seq + 1);
      expect(ring.queued).toBe(5);
      expect(b.recv(out)).toBe(5);
      for (let i = 0; i < 5; i++) {
        expect(out.bytes(i)).toEqual(pkts[i]);
        expect(out.port[i]).toBe(3);
      }
      out.freeAll();
    }
    expect(b.recv(out)).toBe(0);
    expect(a.counters.get('tx')).toBe(25);
    expect(b.counters.get('rx')).toBe(25);
  });

  it('a full ring drops the rest of the burst, counted on both sides; oversize packets are counted', () => {
    const ring = new HandoffRing({ slots: 4, slotSize: 128 });
    const a = new HandoffPort({ name: 'a', tx: ring, rx: null });
    const b = new HandoffPort({ name: 'b', tx: null, rx: ring });
    const slab = new Slab({ slots: 64 });
    const pkts = [0, 1, 2, 3, 4, 5].map((k) => packet(k, 100));
    pkts.splice(2, 0, packet(99, 129)); // larger than a slot
    const src = burstOf(slab, pkts);
    a.send(src);
    src.freeAll();
    expect(a.counters.get('oversize')).toBe(1);
    expect(a.counters.get('ring-full')).toBe(2);
    expect(ring.full).toBe(2);
    const out = new Burst(slab, 256);
    expect(b.recv(out)).toBe(4);
    expect([0, 1, 2, 3].map((i) => out.bytes(i)[0])).toEqual([0, 1, 2, 3]);
  });

  it('a recv takes at most the burst room and batch size; the rest stays', () => {
    const ring = new HandoffRing({ slots: 16, slotSize: 128 });
    const a = new HandoffPort({ name: 'a', tx: ring, rx: null });
    const b = new HandoffPort({ name: 'b', tx: null, rx: ring, batchSize: 3 });
    const slab = new Slab({ slots: 64 });
    const src = burstOf(
      slab,
      [0, 1, 2, 3, 4, 5, 6].map((k) => packet(k, 60)),
    );
    a.send(src);
    src.freeAll();
    const out = new Burst(slab, 256);
    expect(b.recv(out)).toBe(3);
    expect(b.recv(out)).toBe(3);
    expect(b.recv(out)).toBe(1);
    expect([...Array(7).keys()].map((i) => out.bytes(i)[0])).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('refuses bad geometry', () => {
    expect(() => new HandoffRing({ slots: 6 })).toThrow(RangeError);
    expect(() => new HandoffRing({ slotSize: 100 })).toThrow(RangeError);
  });

  it('a producer thread fills the ring in bursts; onReadable drains every packet intact and in order', async () => {
    const ring = new HandoffRing({ slots: 256, slotSize: 2048 });
    const b = new HandoffPort({ name: 'rx', tx: null, rx: ring, batchSize: 64 });
    const total = 20000;
    // The producer follows the documented layout: header words HEAD 0, TAIL 1, SEQ 2, FULL 3 (16 words), then
    // the lengths, then the payloads; it waits for room instead of dropping so that every packet arrives.
    const code = `
      const { workerData } = require('node:worker_threads');
      const { sab, total } = workerData;
      const ctl = new Int32Array(sab, 0, 16);
      const slots = ctl[4], size = ctl[5];
      const lens = new Int32Array(sab, 64, slots);
      const data = new Uint8Array(sab, 64 + slots * 4, slots * size);
      let head = 0, k = 0;
      while (k < total) {
        const burst = 1 + (k % 37);
        for (let j = 0; j < burst && k < total; j++) {
          while (((head - Atomics.load(ctl, 1)) | 0) >= slots) Atomics.wait(ctl, 1, Atomics.load(ctl, 1), 1);
          const len = 20 + ((k * 17) % 1400);
          const s = head & (slots - 1);
          for (let i = 0; i < len; i++) data[s * size + i] = (k * 31 + i * 7) & 0xff;
          data[s * size] = k & 0xff; data[s * size + 1] = (k >> 8) & 0xff;
          lens[s] = len;
          head = (head + 1) | 0; k++;
        }
        Atomics.store(ctl, 0, head);
        Atomics.add(ctl, 2, 1);
        Atomics.notify(ctl, 2);
      }
    `;
    const slab = new Slab({ slots: 512 });
    const out = new Burst(slab, 64);
    let got = 0;
    let bad = 0;
    const done = new Promise<void>((resolve) => {
      b.onReadable(() => {
        while (b.recv(out) > 0) {
          for (let i = 0; i < out.count; i++) {
            const want = packet(got, 20 + ((got * 17) % 1400));
            const have = out.bytes(i);
            if (have.length !== want.length || Buffer.compare(Buffer.from(have), Buffer.from(want)) !== 0) bad++;
            got++;
          }
          out.freeAll();
        }
        if (got >= total) resolve();
      });
    });
    const w = new Worker(code, { eval: true, workerData: { sab: ring.sab, total } });
    await done;
    b.close();
    await w.terminate();
    expect(got).toBe(total);
    expect(bad).toBe(0);
  });
});
