/**
 * Checksum primitives: RFC 1071 sum over 64/512/1500 bytes (DataView 32-bit words into a float64 accumulator)
 * against a byte-at-a-time baseline, and RFC 1624 incremental updates.
 */
import * as csum from '../../engine/wire/checksum.js';
import type { BenchCase, Suite } from '../harness.js';

const N = 1024;
const buf = new Uint8Array(2048);
for (let i = 0; i < buf.length; i++) buf[i] = (i * 131 + 7) & 0xff;
const dv = new DataView(buf.buffer);
let sink = 0;

function sumCase(len: number): BenchCase {
  return {
    name: `sum/${len}`,
    ops: N,
    fn: () => {
      let s = 0;
      for (let i = 0; i < N; i++) s += csum.checksum(dv, i & 63, len);
      sink ^= s;
    },
    ...(len === 1500 ? { baseline: 'checksum/sum-bytes/1500' } : {}),
  };
}

/** Byte-at-a-time RFC 1071 (16-bit words assembled from bytes), the baseline for sum/1500. */
function bytesChecksum(o: number, len: number): number {
  let s = 0;
  const end = o + (len & ~1);
  for (let i = o; i < end; i += 2) s += (buf[i]! << 8) | buf[i + 1]!;
  if (len & 1) s += buf[end]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

const suite: Suite = {
  name: 'checksum',
  cases: [
    sumCase(64),
    sumCase(512),
    {
      name: 'sum-bytes/1500',
      ops: N,
      fn: () => {
        let s = 0;
        for (let i = 0; i < N; i++) s += bytesChecksum(i & 63, 1500);
        sink ^= s;
      },
    },
    sumCase(1500),
    {
      name: 'update16',
      ops: N,
      fn: () => {
        let c = 0x1234;
        for (let i = 0; i < N; i++) c = csum.update16(c, 40000 + i, 61000 + i);
        sink ^= c;
      },
    },
    {
      name: 'update32',
      ops: N,
      fn: () => {
        let c = 0x1234;
        for (let i = 0; i < N; i++) c = csum.update32(c, 0xc0a80001 | 0, (0xc6120000 + i) | 0);
        sink ^= c;
      },
    },
  ],
};
export default suite;
export const _sink = () => sink;
