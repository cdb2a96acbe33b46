/**
 * Connection-state sync wire format (engine/cluster/conn-sync.ts). Expected bytes are written here from the layout
 * diagram with the HMAC from node:crypto directly; every bad input gets its counted verdict.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { connSync, makeKey } from '../../engine/cluster/index.js';

const { SyncReceiver, SyncSender, decodeSync, encodeSync, checkSync, SYNC_MAX_LEN } = connSync;
const KEY = makeKey(new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff));
const OTHER = makeKey(new Uint8Array(32).map((_, i) => (i * 91 + 5) & 0xff));
const A = 0xc6120001 | 0; // 198.18.0.1 (sender)
const B = 0xc6120002 | 0; // 198.18.0.2 (receiver)
const INC_A = 1_700_000_000_000;
const INC_B = 1_700_000_000_500;

/** One TCP record and one removal, byte by byte from the diagram. */
function handBuilt(key: Uint8Array, keyId: number, counter = 7): Buffer {
  const b = Buffer.alloc(48 + 80 + 16);
  b.write('EGCS', 0, 'latin1');
  b[4] = 1; // version
  b[5] = 0x01; // FULL
  b[6] = 1; // records
  b[7] = 1; // removals
  b.writeUInt32BE(keyId, 8);
  b.writeUInt32BE(0xc6120002, 12); // destination
  b.writeUInt32BE(Math.floor(INC_A / 2 ** 32), 16);
  b.writeUInt32BE(INC_A >>> 0, 20);
  b.writeUInt32BE(0, 24);
  b.writeUInt32BE(counter, 28);
  b.writeUInt32BE(Math.floor(INC_B / 2 ** 32), 32);
  b.writeUInt32BE(INC_B >>> 0, 36);
  b.writeUInt32BE(0xc6120001, 40); // sender
  // record: 10.10.1.5:40000 -> 198.18.0.100:80, bound to 198.18.0.50:40000, TCP ESTABLISHED
  let o = 48;
  b.writeUInt32BE(0x0a0a0105, o);
  b.writeUInt32BE(0xc6120064, o + 4);
  b.writeUInt16BE(40000, o + 8);
  b.writeUInt16BE(80, o + 10);
  b.writeUInt32BE(0xc6120032, o + 12);
  b.writeUInt16BE(40000, o + 16);
  b[o + 18] = 6;
  b[o + 19] = 3;
  b.writeUInt16BE(0x0603, o + 20);
  b.writeUInt32BE(432_000_000, o + 24);
  b.writeUInt32BE(1500, o + 28);
  for (let k = 0; k < 12; k++) b.writeInt32BE(k === 0 ? -5 : k * 1000, o + 32 + 4 * k);
  o += 80;
  // removal: 10.10.1.5:5353 -> 198.18.0.100:53 UDP
  b.writeUInt32BE(0x0a0a0105, o);
  b.writeUInt32BE(0xc6120064, o + 4);
  b.writeUInt16BE(5353, o + 8);
  b.writeUInt16BE(53, o + 10);
  b[o + 12] = 17;
  const mac = createHmac('sha256', key).update(b).digest();
  return Buffer.concat([b, mac]);
}

const RECORD = {
  src: 0x0a0a0105,
  dst: 0xc6120064 | 0,
  sport: 40000,
  dport: 80,
  natIp: 0xc6120032 | 0,
  natPort: 40000,
  proto: 6,
  state: 3,
  flags: 0x0603,
  timeoutMs: 432_000_000,
  ageMs: 1500,
  window: Int32Array.from({ length: 12 }, (_, k) => (k === 0 ? -5 : k * 1000)),
};
const REMOVAL = { src: 0x0a0a0105, dst: 0xc6120064 | 0, sport: 5353, dport: 53, proto: 17 };

function receiver() {
  const r = new SyncReceiver({ selfIp: B, incarnation: INC_B, keys: [KEY] });
  r.setMembers(new Map([[A, 'node-a']]));
  return r;
}
const count = (r: InstanceType<typeof SyncReceiver>, name: connSync.SyncVerdictName) => r.snapshot()[name];

describe('sync message', () => {
  it('encodes the layout of the diagram', () => {
    const got = encodeSync(
      { flags: 1, dstIp: B, incarnation: INC_A, counter: 7, echo: INC_B, srcIp: A },
      [RECORD],
      [REMOVAL],
      KEY,
    );
    expect(Buffer.from(got).toString('hex')).toBe(handBuilt(KEY.key, KEY.id).toString('hex'));
  });

  it('decodes hand-built bytes', () => {
    const d = decodeSync(handBuilt(KEY.key, KEY.id), [OTHER, KEY]);
    expect(d.verdict).toBe(0);
    const m = (d as { msg: connSync.SyncMessage }).msg;
    expect(m).toMatchObject({ flags: 1, dstIp: B, srcIp: A, incarnation: INC_A, counter: 7, echo: INC_B });
    expect(m.records).toEqual([RECORD]);
    expect(m.removals).toEqual([REMOVAL]);
  });

  it('counts every bad input, accepts the good one once', () => {
    const r = receiver();
    const good = handBuilt(KEY.key, KEY.id);
    expect(r.receive(A, good.subarray(0, 47)).verdict).toBe(connSync.SYNC_TRUNCATED);
    expect(r.receive(A, good.subarray(0, good.length - 1)).verdict).toBe(connSync.SYNC_TRUNCATED);
    expect(r.receive(A, Buffer.concat([good, Buffer.alloc(1)])).verdict).toBe(connSync.SYNC_OVERSIZE);
    expect(r.receive(A, Buffer.alloc(SYNC_MAX_LEN + 1)).verdict).toBe(connSync.SYNC_OVERSIZE);
    const v2 = Buffer.from(good);
    v2[4] = 2;
    expect(r.receive(A, v2).verdict).toBe(connSync.SYNC_BAD_VERSION);
    const forged = Buffer.from(good);
    forged[48 + 16] ^= 1; // the NAT port
    expect(r.receive(A, forged).verdict).toBe(connSync.SYNC_BAD_MAC);
    expect(r.receive(A, handBuilt(OTHER.key, OTHER.id)).verdict).toBe(connSync.SYNC_UNKNOWN_KEY);
    // The heartbeat magic is not a sync message.
    const hb = Buffer.from(good);
    hb.write('EGHB', 0, 'latin1');
    expect(r.receive(A, hb).verdict).toBe(connSync.SYNC_BAD_MAGIC);
    const C = 0xc6120003 | 0;
    expect(r.receive(C, good).verdict).toBe(connSync.SYNC_WRONG_SOURCE);
    const ok = r.receive(A, good);
    expect(ok.verdict).toBe(0);
    expect(ok.sender).toBe('node-a');
    expect(r.receive(A, good).verdict).toBe(connSync.SYNC_REPLAYED);
    expect(r.receive(A, handBuilt(KEY.key, KEY.id, 6)).verdict).toBe(connSync.SYNC_REPLAYED);
    expect(r.receive(A, handBuilt(KEY.key, KEY.id, 8)).verdict).toBe(0);
    r.setMembers(new Map());
    expect(r.receive(A, handBuilt(KEY.key, KEY.id, 9)).verdict).toBe(connSync.SYNC_NON_MEMBER);
    expect(count(r, 'truncated')).toBe(2);
    expect(count(r, 'oversize')).toBe(2);
    expect(count(r, 'bad-version')).toBe(1);
    expect(count(r, 'bad-mac')).toBe(1);
    expect(count(r, 'unknown-key')).toBe(1);
    expect(count(r, 'bad-magic')).toBe(1);
    expect(count(r, 'replayed')).toBe(2);
    expect(count(r, 'non-member')).toBe(1);
    expect(count(r, 'ok')).toBe(2);
  });

  it('rejects a message recorded before the receiver restarted (echo) and one addressed elsewhere', () => {
    const restarted = new SyncReceiver({ selfIp: B, incarnation: INC_B + 1, keys: [KEY] });
    restarted.setMembers(new Map([[A, 'node-a']]));
    expect(restarted.receive(A, handBuilt(KEY.key, KEY.id)).verdict).toBe(connSync.SYNC_UNCONFIRMED);
    const other = new SyncReceiver({ selfIp: 0xc6120009 | 0, incarnation: INC_B, keys: [KEY] });
    other.setMembers(new Map([[A, 'node-a']]));
    expect(other.receive(A, handBuilt(KEY.key, KEY.id)).verdict).toBe(connSync.SYNC_WRONG_DESTINATION);
  });

  it('rejects authenticated bad fields (reserved bytes, TCP state out of range)', () => {
    const m = (patch: (b: Buffer) => void) => {
      const b = handBuilt(KEY.key, KEY.id).subarray(0, 48 + 80 + 16);
      patch(b);
      return Buffer.concat([b, createHmac('sha256', KEY.key).update(b).digest()]);
    };
    const r = receiver();
    expect(
      r.receive(
        A,
        m((b) => (b[44] = 1)),
      ).verdict,
    ).toBe(connSync.SYNC_BAD_FIELD);
    expect(
      r.receive(
        A,
        m((b) => (b[48 + 19] = 12)),
      ).verdict,
    ).toBe(connSync.SYNC_BAD_FIELD);
    expect(
      r.receive(
        A,
        m((b) => (b[48 + 80 + 15] = 1)),
      ).verdict,
    ).toBe(connSync.SYNC_BAD_FIELD);
  });

  it('splits a burst into messages of at most SYNC_MAX_LEN bytes with growing counters', () => {
    const s = new SyncSender(A, INC_A, KEY);
    const recs = Array.from({ length: 100 }, (_, i) => ({
      ...RECORD,
      sport: 1000 + i,
      proto: i % 2 ? 17 : 6,
      state: i % 2 ? 0 : 3,
    }));
    const rems = Array.from({ length: 50 }, (_, i) => ({ ...REMOVAL, sport: 2000 + i }));
    const msgs = s.build(B, INC_B, recs, rems);
    const r = receiver();
    let nr = 0;
    let nd = 0;
    for (const b of msgs) {
      expect(b.length).toBeLessThanOrEqual(SYNC_MAX_LEN);
      expect(checkSync(b)).toBe(0);
      const x = r.receive(A, b);
      expect(x.verdict).toBe(0);
      nr += x.msg!.records.length;
      nd += x.msg!.removals.length;
    }
    expect([nr, nd]).toEqual([100, 50]);
    // 32 bytes per UDP record, 80 per TCP, 16 per removal: 6000 bytes in messages of at most 1400.
    expect(msgs.length).toBeGreaterThanOrEqual(5);
    expect(msgs.length).toBeLessThanOrEqual(7);
  });
});
