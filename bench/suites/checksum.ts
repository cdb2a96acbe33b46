/** Checksum primitives: RFC 1071 sum over 64/512/1500 bytes and RFC 1624 incremental updates. */
import * as csum from '../../engine/wire/checksum.js';
import type { Suite } from '../harness.js';

const N = 1024;
const buf = new Uint8Array(2048);
for (let i = 0; i < buf.length; i++) buf[i] = (i * 131 + 7) & 0xff;
const dv = new DataView(buf.buffer);
let sink = 0;

function sumCase(len: number) {
  return {
    name: `sum/${len}`,
    ops: N,
    fn: () => {
      let s = 0;
      for (let i = 0; i < N; i++) s += csum.checksum(dv, i & 63, len);
      sink ^= s;
    },
  };
}

const suite: Suite = {
  name: 'checksum',
  cases: [
    sumCase(64),
    sumCase(512),
    sumCase(1500),
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
