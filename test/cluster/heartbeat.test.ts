/**
 * Heartbeat wire format (engine/cluster/heartbeat.ts). Expected bytes are written here from the layout diagram,
 * with the HMAC computed by node:crypto directly and, independently, by Debian's Python (`hmac`, `struct`).
 */
import { spawnSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  heartbeat as hbw,
  keyFromHex,
  keyProblem,
  loadKeyFile,
  makeKey,
  type Heartbeat,
} from '../../engine/cluster/index.js';

const { decodeHeartbeat, encodeHeartbeat, verdictName } = hbw;
const KEY_BYTES = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
const KEY = makeKey(KEY_BYTES);
const OTHER = makeKey(new Uint8Array(32).map((_, i) => (i * 91 + 5) & 0xff));

/** Key id as key.ts documents it, computed here without it. */
function expectedKeyId(key: Uint8Array): number {
  return createHmac('sha256', key).update('egress-engine heartbeat key id v1').digest().readUInt32BE(0);
}

/** The datagram of the layout diagram, byte by byte. */
function handBuilt(key: Uint8Array, keyId: number): Buffer {
  const name = Buffer.from('node-b', 'utf8');
  const b = Buffer.alloc(48 + name.length);
  b.write('EGHB', 0, 'latin1'); // magic
  b[4] = 1; // version
  b[5] = 0x01; // flags: SEES_YOU
  b[6] = name.length; // name length
  b[7] = 3; // revivals
  b.writeUInt32BE(keyId, 8);
  b.writeUInt32BE(0x0000018f, 12); // incarnation high
  b.writeUInt32BE(0x12345678, 16); // incarnation low
  b.writeUInt32BE(0, 20);
  b.writeUInt32BE(42, 24); // counter
  b.writeUInt32BE(0x00000190, 28); // echo high
  b.writeUInt32BE(0x9abcdef0, 32); // echo low
  b.set([198, 18, 0, 11], 36); // destination 198.18.0.11
  b.writeUInt16BE(50, 40); // interval
  b.writeUInt16BE(3, 42); // view size
  b.writeUInt32BE(0xdeadbeef, 44); // view digest
  name.copy(b, 48);
  const mac = createHmac('sha256', key).update(b).digest();
  return Buffer.concat([b, mac]);
}

const HAND: Heartbeat = {
  flags: 1,
  revivals: 3,
  incarnation: 0x18f * 2 ** 32 + 0x12345678,
  counter: 42,
  echo: 0x190 * 2 ** 32 + 0x9abcdef0,
  dstIp: (198 << 24) | (18 << 16) | 11 | 0,
  intervalMs: 50,
  viewSize: 3,
  viewDigest: 0xdeadbeef,
  name: 'node-b',
};

function sample(over: Partial<Heartbeat> = {}): Heartbeat {
  return { ...HAND, ...over };
}

describe('heartbeat key id', () => {
  it('is the first 4 bytes of HMAC(key, label)', () => {
    expect(KEY.id).toBe(expectedKeyId(KEY_BYTES));
    expect(KEY.id).not.toBe(OTHER.id);
  });
});

describe('heartbeat encoding', () => {
  it('decodes a datagram hand-built from the layout diagram', () => {
    const bytes = handBuilt(KEY_BYTES, expectedKeyId(KEY_BYTES));
    expect(bytes.length).toBe(48 + 6 + 32);
    const d = decodeHeartbeat(new Uint8Array(bytes), [KEY]);
    expect(verdictName(d.verdict)).toBe('ok');
    if (d.verdict !== 0) return;
    expect(d.hb).toEqual(HAND);
    expect(d.keyId).toBe(KEY.id);
  });

  it('encodes exactly the hand-built bytes', () => {
    const enc = encodeHeartbeat(HAND, KEY);
    expect(Buffer.from(enc).toString('hex')).toBe(handBuilt(KEY_BYTES, expectedKeyId(KEY_BYTES)).toString('hex'));
  });

  it('matches an encoding made by Python (struct + hmac), independent of Node', () => {
    const prog = `
import hmac, hashlib, struct, sys
key = bytes.fromhex(sys.argv[1])
kid = hmac.new(key, b'egress-engine heartbeat key id v1', hashlib.sha256).digest()[:4]
name = 'nœud-ç'.encode()
hdr = b'EGHB' + struct.pack('>BBBB', 1, 0x02, len(name), 255) + kid
hdr += struct.pack('>QQQ', 2**53 - 1, 7, 0) + bytes([198, 18, 200, 1]) + struct.pack('>HHI', 65535, 0, 0)
msg = hdr + name
print((msg + hmac.new(key, msg, hashlib.sha256).digest()).hex())
`;
    const r = spawnSync('/usr/bin/python3', ['-c', prog, Buffer.from(KEY_BYTES).toString('hex')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const hb: Heartbeat = {
      flags: 2,
      revivals: 255,
      incarnation: Number.MAX_SAFE_INTEGER,
      counter: 7,
      echo: 0,
      dstIp: (198 << 24) | (18 << 16) | (200 << 8) | 1 | 0,
      intervalMs: 65535,
      viewSize: 0,
      viewDigest: 0,
      name: 'nœud-ç',
    };
    expect(Buffer.from(encodeHeartbeat(hb, KEY)).toString('hex')).toBe(r.stdout.trim());
    const d = decodeHeartbeat(new Uint8Array(Buffer.from(r.stdout.trim(), 'hex')), [KEY]);
    expect(d.verdict).toBe(0);
    if (d.verdict === 0) expect(d.hb).toEqual(hb);
  });

  it('round-trips arbitrary valid heartbeats', () => {
    const arb = fc.record({
      flags: fc.integer({ min: 0, max: 255 }),
      revivals: fc.integer({ min: 0, max: 255 }),
      incarnation: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      counter: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      echo: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      dstIp: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      intervalMs: fc.integer({ min: 0, max: 65535 }),
      viewSize: fc.integer({ min: 0, max: 65535 }),
      viewDigest: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      name: fc.string({ minLength: 1, maxLength: 60, unit: 'grapheme' }),
    });
    fc.assert(
      fc.property(arb, (hb) => {
        const enc = encodeHeartbeat(hb, KEY);
        const d = decodeHeartbeat(enc, [OTHER, KEY]);
        expect(d.verdict).toBe(0);
        if (d.verdict === 0) expect(d.hb).toEqual(hb);
      }),
      { seed: 7, numRuns: 500 },
    );
  });

  it('handles the longest name (253 bytes) and rejects encoding a longer one', () => {
    const long = 'n'.repeat(253);
    const enc = encodeHeartbeat(sample({ name: long }), KEY);
    expect(enc.length).toBe(hbw.MAX_LEN);
    expect(decodeHeartbeat(enc, [KEY]).verdict).toBe(0);
    expect(() => encodeHeartbeat(sample({ name: long + 'x' }), KEY)).toThrow(/1\.\.253/);
    expect(() => encodeHeartbeat(sample({ counter: 0 }), KEY)).toThrow(/counter/);
  });

  it('gives every truncation a verdict and never throws', () => {
    const enc = encodeHeartbeat(sample(), KEY);
    for (let n = 0; n < enc.length; n++) {
      const d = decodeHeartbeat(enc.subarray(0, n), [KEY]);
      expect(d.verdict, `length ${n}`).not.toBe(0);
      // A prefix is truncated, except where the bytes present already prove something else.
      expect(['truncated'], `length ${n}`).toContain(verdictName(d.verdict));
    }
  });

  it('rejects trailing bytes and oversize datagrams', () => {
    const enc = encodeHeartbeat(sample(), KEY);
    const longer = new Uint8Array(enc.length + 1);
    longer.set(enc);
    expect(verdictName(decodeHeartbeat(longer, [KEY]).verdict)).toBe('oversize');
    expect(verdictName(decodeHeartbeat(new Uint8Array(5000), [KEY]).verdict)).toBe('oversize');
  });

  it('gives random bytes a verdict, never an exception', () => {
    const enc = encodeHeartbeat(sample(), KEY);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (bytes, withHeader) => {
        // Half the cases keep a valid prefix so that the deeper checks are reached.
        const b = new Uint8Array(bytes);
        if (withHeader) b.set(enc.subarray(0, Math.min(b.length, 12)));
        const d = decodeHeartbeat(b, [KEY]);
        expect(d.verdict).not.toBe(0);
        expect(VERDICTS_BEFORE_MEMBERSHIP).toContain(verdictName(d.verdict));
      }),
      { seed: 11, numRuns: 3000 },
    );
  });

  it('turns a flipped bit anywhere into the verdict of the field it hits', () => {
    const enc = encodeHeartbeat(sample(), KEY);
    for (let i = 0; i < enc.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const b = new Uint8Array(enc);
        b[i]! ^= 1 << bit;
        const v = verdictName(decodeHeartbeat(b, [KEY]).verdict);
        let want: string[];
        if (i < 4) want = ['bad-magic'];
        else if (i === 4) want = ['bad-version'];
        else if (i === 6) want = b[6] === 0 ? ['bad-field'] : ['truncated', 'oversize'];
        else if (i >= 8 && i < 12) want = ['unknown-key'];
        else want = ['bad-mac'];
        expect(want, `byte ${i} bit ${bit}`).toContain(v);
      }
    }
  });

  it('tells a wrong key (unknown key id) from a forged MAC under our key id', () => {
    const enc = encodeHeartbeat(sample(), OTHER);
    expect(verdictName(decodeHeartbeat(enc, [KEY]).verdict)).toBe('unknown-key');
    // An attacker copying our key id still fails the MAC.
    const forged = new Uint8Array(enc);
    new DataView(forged.buffer).setUint32(8, KEY.id);
    expect(verdictName(decodeHeartbeat(forged, [KEY]).verdict)).toBe('bad-mac');
    // A receiver holding both keys (rotation) accepts it.
    expect(decodeHeartbeat(enc, [KEY, OTHER]).verdict).toBe(0);
  });

  it('rejects authenticated but invalid fields as bad-field', () => {
    const reMac = (b: Buffer) => {
      const body = b.subarray(0, b.length - 32);
      createHmac('sha256', KEY_BYTES)
        .update(body)
        .digest()
        .copy(b, b.length - 32);
      return new Uint8Array(b);
    };
    const base = () => handBuilt(KEY_BYTES, KEY.id);
    const inc0 = base();
    inc0.fill(0, 12, 20);
    expect(verdictName(decodeHeartbeat(reMac(inc0), [KEY]).verdict)).toBe('bad-field');
    const ctr0 = base();
    ctr0.fill(0, 20, 28);
    expect(verdictName(decodeHeartbeat(reMac(ctr0), [KEY]).verdict)).toBe('bad-field');
    const huge = base();
    huge.writeUInt32BE(0x00200000, 12); // 2^53: not a safe integer
    expect(verdictName(decodeHeartbeat(reMac(huge), [KEY]).verdict)).toBe('bad-field');
    const utf = base();
    utf[48] = 0xff; // not UTF-8
    expect(verdictName(decodeHeartbeat(reMac(utf), [KEY]).verdict)).toBe('bad-field');
  });

  it('newIncarnation grows across restarts even if the clock steps back', () => {
    expect(hbw.newIncarnation(1_700_000_000_123.7)).toBe(1_700_000_000_123);
    expect(hbw.newIncarnation(1_000, 5_000)).toBe(5_001);
    expect(hbw.newIncarnation(0)).toBe(1);
  });
});

const VERDICTS_BEFORE_MEMBERSHIP = [
  'truncated',
  'oversize',
  'bad-magic',
  'bad-version',
  'bad-field',
  'unknown-key',
  'bad-mac',
];

describe('loadKeyFile and keyFromHex (issue 11 finding 9: key files and weak keys)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'egr-key-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const hex = Buffer.from(KEY_BYTES).toString('hex');
  const file = (name: string, content: string | Uint8Array, mode = 0o600) => {
    const p = join(dir, name);
    writeFileSync(p, content, { mode });
    chmodSync(p, mode); // writeFileSync's mode is masked by the umask
    return p;
  };

  it('reads raw bytes and hex text files of mode 0600 (or stricter), and hex from the environment', () => {
    const raw = file('raw.key', KEY_BYTES);
    const txt = file('hex.key', `${hex.slice(0, 32)}\n${hex.slice(32)}\n`, 0o400);
    for (const p of [raw, txt]) {
      const r = loadKeyFile(p);
      expect(r.ok, p).toBe(true);
      if (r.ok) expect(r.key.id).toBe(KEY.id);
    }
    const r = loadKeyFile(raw);
    expect(r.ok && r.source).toBe(`file ${raw}`);
    const e = keyFromHex(hex, '$EGRESS_KEY');
    expect(e.ok && e.key.id).toBe(KEY.id);
  });

  it('refuses a key file others can read or write, or a non-file, with the chmod that fixes it', () => {
    for (const mode of [0o644, 0o666, 0o640, 0o604]) {
      const p = file(`m${mode.toString(8)}.key`, KEY_BYTES, mode);
      const r = loadKeyFile(p);
      expect(r.ok, mode.toString(8)).toBe(false);
      if (!r.ok)
        expect(r.error).toBe(
          `heartbeat key file ${p} has mode 0${mode.toString(8)}: only its owner may read it (chmod 600 ${p})`,
        );
    }
    const r = loadKeyFile(dir);
    expect(!r.ok && r.error).toBe(`heartbeat key file ${dir} is not a regular file`);
  });

  it.skipIf(process.getuid?.() !== 0)("refuses a key file owned by another user than the agent's (root: chown)", () => {
    const p = file('nobody.key', KEY_BYTES);
    chownSync(p, 65534, 65534);
    const r = loadKeyFile(p);
    expect(!r.ok && r.error).toBe(
      `heartbeat key file ${p} is owned by uid 65534, not by the agent's user (uid 0): chown 0 ${p}`,
    );
  });

  it('refuses short, repetitive, passphrase-like and low-entropy keys with one line that never shows the key', () => {
    const cases: [string | Uint8Array, RegExp][] = [
      [new Uint8Array(15).map((_, i) => i + 1), /15 bytes; at least 16 are required/],
      [new Uint8Array(16).fill(0xab), /one byte value repeated/],
      ['passwordpassword', /printable text, which looks like a passphrase/],
      ['correct horse battery staple\n', /printable text/],
      [Buffer.from('passwordpassword').toString('hex'), /printable text/], // hex of a passphrase decodes to one
      [new Uint8Array(32).map((_, i) => [0x01, 0x92, 0xf3][i % 3]!), /only 3 distinct byte values \(at least 16/],
      [new Uint8Array(2000).map((_, i) => i), /at most 1024/],
    ];
    cases.forEach(([content, re], i) => {
      const p = file(`weak${i}.key`, content);
      const r = loadKeyFile(p);
      expect(r.ok, String(re)).toBe(false);
      if (!r.ok) {
        expect(r.error).toMatch(re);
        expect(r.error).not.toContain('\n');
        expect(r.error).not.toContain('password');
      }
    });
    expect(loadKeyFile(join(dir, 'missing.key'))).toEqual({
      ok: false,
      error: `heartbeat key file ${join(dir, 'missing.key')}: no such file`,
    });
    expect(keyFromHex('abc', '$EGRESS_KEY')).toEqual({
      ok: false,
      error: 'heartbeat key in $EGRESS_KEY is not an even number of hex digits',
    });
    expect(() => makeKey(new Uint8Array(8))).toThrow(RangeError);
  });

  it('accepts random keys of 16 and 32 bytes (the weak-key rules never refuse random bytes)', () => {
    for (let i = 0; i < 2000; i++) {
      expect(keyProblem(randomBytes(16))).toBeNull();
      expect(keyProblem(randomBytes(32))).toBeNull();
    }
  });
});
