/**
 * A reflecting host's answers (engine/agent/sim-host.ts `reflectInto`), written into another slot and over the
 * packet itself (what a host does with a frame the switch gives it with its slot), against answers built by
 * scapy: UDP echoed with addresses and ports swapped (checksum kept), ICMP echo reply, TCP SYN → SYN-ACK and
 * data → ACK; with and without IP options (the answer never has any).
 */
import { describe, expect, it } from 'vitest';
import { reflectInto } from '../../engine/agent/sim-host.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';

const A = "src='198.19.1.10', dst='198.18.0.100'";
const B = "src='198.18.0.100', dst='198.19.1.10', id=7, flags='DF', ttl=64, tos=0";
const OPTS = 'options=[IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption_NOP()]';
const ISN = 'isn(4321, 80, 0xc613010a)'; // the ISN the host derives from the ports and the peer's address
const PRE = `
def isn(sport, dport, src):
    import ctypes
    x = ctypes.c_uint32((sport * 65536 + dport) * 0x9e3779b1).value
    return (x ^ src) & 0xffffffff
def keep(p):
    p = IP(bytes(p))
    return p[UDP].chksum
`;

/** [input, expected answer] per case; the UDP answer keeps the input's checksum. */
const CASES: Array<[string, string, string]> = [
  [
    'UDP',
    `IP(${A}, id=7, ttl=17, tos=4)/UDP(sport=4321, dport=9)/Raw(b'hello, reflect')`,
    `IP(${B})/UDP(sport=9, dport=4321, chksum=keep(IP(${A}, id=7, ttl=17, tos=4)/UDP(sport=4321, dport=9)/Raw(b'hello, reflect')))/Raw(b'hello, reflect')`,
  ],
  [
    'UDP with IP options',
    `IP(${A}, id=7, ${OPTS})/UDP(sport=4321, dport=9)/Raw(b'opts')`,
    `IP(${B})/UDP(sport=9, dport=4321, chksum=keep(IP(${A}, id=7, ${OPTS})/UDP(sport=4321, dport=9)/Raw(b'opts')))/Raw(b'opts')`,
  ],
  [
    'ICMP echo with IP options',
    `IP(${A}, id=7, ${OPTS})/ICMP(type=8, id=3, seq=4)/Raw(b'ping data')`,
    `IP(${B})/ICMP(type=0, id=3, seq=4)/Raw(b'ping data')`,
  ],
  [
    'TCP SYN',
    `IP(${A}, id=7)/TCP(sport=4321, dport=80, flags='S', seq=1000)`,
    `IP(${B})/TCP(sport=80, dport=4321, flags='SA', seq=${ISN}, ack=1001, window=65535)`,
  ],
  [
    'TCP data with IP options',
    `IP(${A}, id=7, ${OPTS})/TCP(sport=4321, dport=80, flags='PA', seq=1000, ack=555)/Raw(b'GET /')`,
    `IP(${B})/TCP(sport=80, dport=4321, flags='A', seq=555, ack=1005, window=65535)`,
  ],
];

describe.skipIf(!hasScapy())('reflecting host answers', () => {
  const built = scapyBytes(
    CASES.flatMap(([, i, o]) => [i, o]),
    PRE,
  );
  CASES.forEach(([name], k) => {
    const input = built[2 * k]!;
    const want = built[2 * k + 1]!;
    it(`${name}: into another slot and in place`, () => {
      const u8 = new Uint8Array(4096);
      const v = new DataView(u8.buffer);
      u8.fill(0xee);
      u8.set(input, 100);
      expect(reflectInto(u8, v, 100, 2000)).toBe(want.length);
      expect(Buffer.from(u8.subarray(2000, 2000 + want.length)).toString('hex')).toBe(
        Buffer.from(want).toString('hex'),
      );
      expect(reflectInto(u8, v, 100, 100)).toBe(want.length);
      expect(Buffer.from(u8.subarray(100, 100 + want.length)).toString('hex')).toBe(Buffer.from(want).toString('hex'));
    });
  });
});
