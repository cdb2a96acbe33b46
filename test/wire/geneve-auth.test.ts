/**
 * engine/wire siphash.ts and geneve-auth.ts (docs/tunnel-auth.md) against independent references:
 * - SipHash-2-4 against a Python implementation written from the paper (itself checked against the paper's
 *   published vectors for the empty and the 15-byte message), for every length 0..80 and an offset start;
 * - an authenticated Geneve frame from the template path (encap + seal) byte-exact against the frame scapy builds
 *   with the option (class 0xFFF0, type 0x81, 5 words) and the Python tag over the documented message;
 * - tshark decodes that frame: Geneve with the critical option and C bit, every checksum good (outer UDP 0);
 * - verify: the right tag passes, one flipped bit anywhere it covers fails, fields it does not cover do not.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeCaptureFile } from '../../engine/io/index.js';
import * as geneve from '../../engine/wire/geneve.js';
import * as geneveAuth from '../../engine/wire/geneve-auth.js';
import * as ipv4 from '../../engine/wire/ipv4.js';
import * as siphash from '../../engine/wire/siphash.js';
import { PYTHON, hasScapy, scapyBytes } from '../support/scapy.js';
import {
  CHECKSUM_PREFS,
  STATUS_GOOD,
  STATUS_NOT_PRESENT,
  findAll,
  hasTshark,
  tsharkPackets,
} from '../support/tshark.js';
import { spawnSync } from 'node:child_process';

const SIPHASH_PY = `
def siphash24(k, m):
    M = (1 << 64) - 1
    k0 = int.from_bytes(k[:8], 'little'); k1 = int.from_bytes(k[8:16], 'little')
    v = [k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d, k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573]
    rotl = lambda x, b: ((x << b) | (x >> (64 - b))) & M
    def rnd():
        v[0] = (v[0] + v[1]) & M; v[1] = rotl(v[1], 13) ^ v[0]; v[0] = rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & M; v[3] = rotl(v[3], 16) ^ v[2]
        v[0] = (v[0] + v[3]) & M; v[3] = rotl(v[3], 21) ^ v[0]
        v[2] = (v[2] + v[1]) & M; v[1] = rotl(v[1], 17) ^ v[2]; v[2] = rotl(v[2], 32)
    n = len(m) - len(m) % 8
    blocks = [int.from_bytes(m[i:i + 8], 'little') for i in range(0, n, 8)]
    blocks.append(int.from_bytes(m[n:] + bytes(7 - len(m) % 8), 'little') | ((len(m) & 0xff) << 56))
    for b in blocks:
        v[3] ^= b; rnd(); rnd(); v[0] ^= b
    v[2] ^= 0xff
    for _ in range(4): rnd()
    return (v[0] ^ v[1] ^ v[2] ^ v[3]).to_bytes(8, 'little')

KEY16 = bytes(range(16))
# the paper's vectors (SipHash-2-4, key 00..0f, message 00..n-1), printed as the 64-bit tag
assert int.from_bytes(siphash24(KEY16, b''), 'little') == 0x726fdb47dd0e0e31
assert int.from_bytes(siphash24(KEY16, bytes(range(15))), 'little') == 0xa129ca6149be45e5
`;

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ip = (s: string) => ipv4.parseAddr(s)!;
const mac = (s: string) => Uint8Array.from(s.split(':').map((x) => parseInt(x, 16)));

function python(script: string): string {
  const r = spawnSync(PYTHON, ['-c', script], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return r.stdout.trim();
}

const KEY = Uint8Array.from({ length: 16 }, (_, i) => (i * 29 + 7) & 0xff);
const KEY_ID = 0x1badcafe;
const SEQ_HI = 0x01234567;
const SEQ_LO = 0x89abcdef;
const NODE_MAC = '02:0e:c6:12:00:0c';
const NEXT_MAC = '02:0e:c6:12:00:0b';
const SRC = '198.18.0.12';
const DST = '198.18.0.253';
const SPORT = 4242;
const INNER = "IP(src='198.19.2.10', dst='198.18.0.100', id=7, ttl=63)/UDP(sport=1024, dport=9)/Raw(bytes(range(97)))";

describe.skipIf(!hasScapy())('siphash24 against a Python reference', () => {
  it('matches for every length 0..80 (message = 8-byte prefix block + bytes at an odd offset)', () => {
    const key = Uint8Array.from({ length: 16 }, (_, i) => i);
    const msg = Uint8Array.from({ length: 96 }, (_, i) => (i * 131 + 17) & 0xff);
    const want = JSON.parse(
      python(
        `${SIPHASH_PY}\nimport json\nm = bytes((i * 131 + 17) & 0xff for i in range(96))\n` +
          `print(json.dumps([siphash24(KEY16, m[3:11] + m[11:11 + n]).hex() for n in range(81)]))`,
      ),
    ) as string[];
    const k = siphash.sipKey(key);
    const v = new DataView(msg.buffer);
    const got: string[] = [];
    for (let n = 0; n <= 80; n++) {
      siphash.siphash24(k, v.getInt32(3, true), v.getInt32(7, true), v, 11, n);
      const t = new DataView(new ArrayBuffer(8));
      t.setInt32(0, siphash.tag.lo, true);
      t.setInt32(4, siphash.tag.hi, true);
      got.push(hex(new Uint8Array(t.buffer)));
    }
    expect(got).toEqual(want);
  });
});

/** The authenticated frame through the template path, as the encap stage builds it. */
function ours(): Uint8Array {
  const [inner] = scapyBytes([INNER]);
  const tpl = geneve.buildTemplate({
    srcMac: mac(NODE_MAC),
    dstMac: mac(NEXT_MAC),
    srcIp: ip(SRC),
    dstIp: ip(DST),
    vni: 0,
    innerSrcMac: mac(NODE_MAC),
    options: geneveAuth.optionBytes(KEY_ID),
    critical: true,
  });
  expect(tpl.len).toBe(geneveAuth.OVERHEAD + 14);
  const buf = new Uint8Array(256 + inner!.length).fill(0xa5);
  buf.set(inner!, 128);
  const v = new DataView(buf.buffer);
  const n = geneve.encap(v, 128, inner!.length, tpl, SPORT);
  expect(n).toBe(128 - tpl.len);
  const glen = tpl.len + inner!.length - 42;
  geneveAuth.seal(siphash.sipKey(KEY), v, n + 14, n + 42, glen, geneveAuth.optionOffsetInFrame(n), SEQ_HI, SEQ_LO);
  expect(buf[n - 1]).toBe(0xa5);
  expect(buf[128 + inner!.length]).toBe(0xa5);
  return buf.slice(n, 128 + inner!.length);
}

/** The same frame from scapy, the tag from the Python reference over the message docs/tunnel-auth.md defines. */
function theirs(): Uint8Array {
  const [f] = scapyBytes(
    ['final'],
    `${SIPHASH_PY}
import struct
def build(tag):
    opt = GeneveOptions(classid=0xfff0, type=0x81, length=5, data=struct.pack('>IQ', ${KEY_ID}, ${SEQ_HI} << 32 | ${SEQ_LO}) + tag)
    return (Ether(dst='${NEXT_MAC}', src='${NODE_MAC}') /
            IP(src='${SRC}', dst='${DST}', flags='DF', ttl=64, id=0, tos=0) /
            UDP(sport=${SPORT}, dport=6081, chksum=0) /
            GENEVE(critical=1, proto=0x6558, vni=0, options=[opt]) /
            Ether(dst='aa:bb:cc:dd:ee:ff', src='${NODE_MAC}') / ${INNER})
raw = bytes(build(bytes(8)))
msg = raw[14 + 12:14 + 20] + raw[14 + 20 + 8:]
final = build(siphash24(bytes.fromhex('${hex(KEY)}'), msg))
`,
  );
  return f!;
}

describe.skipIf(!hasScapy())('geneve-auth: the option on the wire', () => {
  const dir = mkdtempSync(join(tmpdir(), 'egr-geneve-auth-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('encap + seal is byte-exact with the scapy-built frame and the reference tag', () => {
    const a = ours();
    const b = theirs();
    expect(hex(a)).toBe(hex(b));
    // the option sits right after the base header: class fff0, type 0x81 (critical), length 5
    expect(hex(a.subarray(42, 42 + 12))).toBe('0640655800000000fff08105');
  });

  it('verify accepts the frame; one flipped bit anywhere the tag covers is refused, elsewhere it is not', () => {
    const k = siphash.sipKey(KEY);
    const good = ours();
    const check = (f: Uint8Array) => {
      const c = Uint8Array.from(f);
      const v = new DataView(c.buffer);
      const g = 42;
      const p = geneveAuth.findOption(v, g);
      // a changed option header is no longer this option (and still critical): refused before any tag
      if (p !== 50) return false;
      return geneveAuth.verify(k, v, 14, g, v.getUint16(38) - 8, p);
    };
    expect(check(good)).toBe(true);
    const covered = [26, 29, 30, 33, 42, 43, 44, 50, 55, 58, 66, 70, 74, 90, good.length - 1];
    for (const at of covered) {
      const f = Uint8Array.from(good);
      f[at]! ^= 0x10;
      expect(check(f), `byte ${at}`).toBe(false);
    }
    // not covered: outer Ethernet, TOS, Identification, TTL, IPv4 checksum, UDP source port and checksum
    for (const at of [0, 7, 15, 18, 22, 24, 35, 40]) {
      const f = Uint8Array.from(good);
      f[at]! ^= 0x10;
      expect(check(f), `byte ${at}`).toBe(true);
    }
    expect(check(good)).toBe(true);
  });

  it.skipIf(!hasTshark())('tshark decodes Geneve with the critical option, checksums good', () => {
    const file = join(dir, 'auth.pcap');
    writeCaptureFile(file, { linkType: 1, records: [{ data: ours() }] });
    const [f] = tsharkPackets(file, CHECKSUM_PREFS);
    expect(findAll(f, 'geneve.vni')).toEqual(['0x000000']);
    expect(findAll(f, 'geneve.proto_type')).toEqual(['0x6558']);
    expect(findAll(f, 'geneve.flags.critical')).toEqual(['1']);
    expect(findAll(f, 'geneve.flags.oam')).toEqual(['0']);
    expect(findAll(f, 'geneve.option.class')).toEqual(['0xfff0']);
    expect(findAll(f, 'geneve.option.type')).toEqual(['0x81']);
    expect(findAll(f, 'geneve.option.type.critical')).toEqual(['1']);
    // the header's options length and the option's own length (header included): 24 bytes each
    expect(findAll(f, 'geneve.option.length')).toEqual(['24', '24']);
    const data = findAll(f, 'geneve.option.unknown.data')[0]!.replaceAll(':', '');
    expect(data.slice(0, 24)).toBe('1badcafe0123456789abcdef'); // key id, sequence number
    expect(findAll(f, 'ip.checksum.status')).toEqual([STATUS_GOOD, STATUS_GOOD]);
    expect(findAll(f, 'udp.checksum.status')).toEqual([STATUS_NOT_PRESENT, STATUS_GOOD]);
    expect(findAll(f, 'ip.src')).toEqual([SRC, '198.19.2.10']);
  });
});
