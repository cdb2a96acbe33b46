/**
 * The per-packet MAC of tunnel authentication (docs/tunnel-auth.md), alone, over the bytes a tag covers for a
 * pod packet of 64/512/1500 bytes (8 address bytes + Geneve header with the option + inner Ethernet + packet):
 *
 * - `siphash24/<n>`: engine/wire/siphash.ts, what the datapath uses (no allocation);
 * - `hmac-sha256/<n>`: node:crypto `createHmac(...).update(view).digest()` per packet, the obvious alternative
 *   (one Hmac object, one view and one digest Buffer per packet; the ratio is to siphash24 of the same size);
 * - `sha256-oneshot/<n>`: `crypto.hash('sha256', view)`, Node's one-shot digest: not a MAC (no key), shown as
 *   the floor of any native per-packet call.
 */
import { createHmac, hash } from 'node:crypto';
import { siphash } from '../../engine/wire/index.js';
import type { BenchCase, Suite } from '../harness.js';

const BATCH = 64;
const key = siphash.sipKey(Uint8Array.from({ length: 16 }, (_, i) => i * 3));
const hkey = Buffer.alloc(32, 7);
const cases: BenchCase[] = [];
for (const size of [64, 512, 1500]) {
  const covered = size + 14 + 8 + 24; // inner packet + inner Ethernet + Geneve base + option
  const buf = new Uint8Array(covered + 16).map((_, i) => (i * 31) & 0xff);
  const v = new DataView(buf.buffer);
  let sink = 0;
  cases.push({
    name: `siphash24/${size}`,
    ops: BATCH,
    fn: () => {
      for (let i = 0; i < BATCH; i++) {
        siphash.siphash24(key, i, 0x0b0c, v, 8, covered);
        sink ^= siphash.tag.lo;
      }
    },
    facts: () => ({ bytes: covered + 8, sink: sink & 1 }),
  });
  cases.push({
    name: `hmac-sha256/${size}`,
    ops: BATCH,
    baseline: `tunnel-auth/siphash24/${size}`,
    fn: () => {
      for (let i = 0; i < BATCH; i++) {
        const d = createHmac('sha256', hkey)
          .update(new Uint8Array(buf.buffer, 0, covered + 8))
          .digest();
        sink ^= d[0]!;
      }
    },
  });
  cases.push({
    name: `sha256-oneshot/${size}`,
    ops: BATCH,
    baseline: `tunnel-auth/siphash24/${size}`,
    fn: () => {
      for (let i = 0; i < BATCH; i++) {
        const d = hash('sha256', new Uint8Array(buf.buffer, 0, covered + 8), 'buffer') as Buffer;
        sink ^= d[0]!;
      }
    },
  });
}

const suite: Suite = { name: 'tunnel-auth', cases };
export default suite;
