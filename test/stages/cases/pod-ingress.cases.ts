/** pod-ingress rows (engine/stages/pod-ingress.ts; docs/semantics.md §4.0): L3 packets from pod port `port`. */
import { PodIngress } from '../../../engine/stages/index.js';
import { EGRESS_NONE } from '../../../engine/stages/index.js';
import { base6, dual } from './base6.js';
import type { CaseTable } from './harness.js';

const UDP = "UDP(sport=40000, dport=53)/b'query'";
const FROM_WEB1 = `IP(src='10.244.1.5', dst='198.18.0.100')`;

const TTL1 = `IP(src='10.244.1.5', dst='198.18.0.100', ttl=1)/${UDP}`;
const TTL1_ERROR = `IP(src='10.244.1.1', dst='10.244.1.5', tos=0xc0, id=0, ttl=64)/ICMP(type=11, code=0)/bytes(${TTL1})[:28]`;
const BIG_DF = `IP(src='10.244.1.5', dst='198.18.0.100', flags='DF')/UDP(sport=1, dport=2)/(b'z'*1460)`;
export const cases: CaseTable = {
  stage: (st) => new PodIngress(st),
  l3: 0,
  rows: [
    {
      name: 'a whole UDP packet from the pod own IP goes on to classify with its pod index',
      input: [
        { pkt: `${FROM_WEB1}/${UDP}`, port: 0 },
        { pkt: `IP(src='10.244.1.7', dst='198.18.0.100')/${UDP}`, port: 2 },
      ],
      counters: {},
      expect: { ok: [`${FROM_WEB1}/${UDP}`, `IP(src='10.244.1.7', dst='198.18.0.100')/${UDP}`] },
    },
    {
      name: 'trailing bytes beyond Total Length are cut',
      input: [{ pkt: `bytes(${FROM_WEB1}/${UDP}) + b'\\x00'*6`, port: 0 }],
      expect: { ok: [`${FROM_WEB1}/${UDP}`] },
      counters: {},
    },
    { name: 'three bytes: drop-truncated', input: [new Uint8Array([0x45, 0, 0])], counters: { 'drop-truncated': 1 } },
    {
      name: 'IP version 6 in an IPv4 header: drop-not-ipv4',
      input: [`IP(version=6, src='10.244.1.5', dst='198.18.0.100')/${UDP}`],
      counters: { 'drop-not-ipv4': 1 },
    },
    {
      name: 'IHL 4: drop-bad-header-len',
      input: [`IP(ihl=4, src='10.244.1.5', dst='198.18.0.100')/${UDP}`],
      counters: { 'drop-bad-header-len': 1 },
    },
    {
      name: 'Total Length below the header: drop-bad-total-len',
      input: [`IP(len=12, src='10.244.1.5', dst='198.18.0.100')/${UDP}`],
      counters: { 'drop-bad-total-len': 1 },
    },
    {
      name: 'a wrong header checksum: drop-bad-checksum',
      input: [`IP(chksum=0x1234, src='10.244.1.5', dst='198.18.0.100')/${UDP}`],
      counters: { 'drop-bad-checksum': 1 },
    },
    {
      name: 'a port member no pod has: drop-unknown-port',
      input: [{ pkt: `${FROM_WEB1}/${UDP}`, port: 9 }],
      counters: { 'drop-unknown-port': 1 },
    },
    {
      name: 'another source than the pod IP: drop-spoofed',
      input: [{ pkt: `IP(src='10.244.1.6', dst='198.18.0.100')/${UDP}`, port: 0 }],
      counters: { 'drop-spoofed': 1 },
    },
    {
      name: 'IPv4 from the port of a pod with only an IPv6 address (port 3 on a dual-stack node): drop-spoofed',
      config: dual({
        pods: [
          ...base6().pods,
          { key: 'prod/v6-only', ip: '2001:2:0:a1::9', port: 3, egress: EGRESS_NONE, egressIp: null, egressNodeIp: 0 },
        ],
      }),
      input: [
        { pkt: `IP(src='10.244.1.9', dst='198.18.0.100')/${UDP}`, port: 3 },
        { pkt: `${FROM_WEB1}/${UDP}`, port: 3 },
      ],
      counters: { 'drop-spoofed': 2 },
    },
    {
      name: 'larger than the pod MTU with DF: drop-too-big and fragmentation needed to the pod',
      input: [`IP(src='10.244.1.5', dst='198.18.0.100', flags='DF')/UDP(sport=1, dport=2)/(b'z'*1460)`],
      counters: { 'drop-too-big': 1, 'icmp-frag-needed': 1 },
      expect: {
        reply: [
          `IP(src='10.244.1.1', dst='10.244.1.5', tos=0xc0, id=0, ttl=64)/ICMP(type=3, code=4, nexthopmtu=1450)/bytes(IP(src='10.244.1.5', dst='198.18.0.100', flags='DF')/UDP(sport=1, dport=2)/(b'z'*1460))[:28]`,
        ],
      },
    },
    {
      name: 'larger than the pod MTU without DF: drop-too-big, no ICMP (no fragmentation here)',
      input: [`IP(src='10.244.1.5', dst='198.18.0.100')/UDP(sport=1, dport=2)/(b'z'*1460)`],
      counters: { 'drop-too-big': 1 },
    },
    {
      name: 'a fragment: to defrag with its pod index, FRAG_FROM_POD in flow, no L4 check',
      input: [
        `IP(src='10.244.1.5', dst='198.18.0.100', flags='MF')/${UDP}`,
        `IP(src='10.244.1.5', dst='198.18.0.100', frag=3)/b'rest'`,
      ],
      counters: { fragment: 2 },
      expect: {
        fragment: [
          `IP(src='10.244.1.5', dst='198.18.0.100', flags='MF')/${UDP}`,
          `IP(src='10.244.1.5', dst='198.18.0.100', frag=3)/b'rest'`,
        ],
      },
    },
    {
      name: 'a fragment from another address than the pod IP: drop-spoofed',
      input: [`IP(src='10.244.1.6', dst='198.18.0.100', frag=3)/b'rest'`],
      counters: { 'drop-spoofed': 1 },
    },
    {
      name: 'a UDP header cut short: drop-l4-truncated',
      input: [`IP(src='10.244.1.5', dst='198.18.0.100', proto=17)/b'\\x9c\\x40'`],
      counters: { 'drop-l4-truncated': 1 },
    },
    {
      name: 'a TCP data offset of 2 words: drop-l4-bad',
      input: [`IP(src='10.244.1.5', dst='198.18.0.100')/TCP(sport=1, dport=80, dataofs=2)`],
      counters: { 'drop-l4-bad': 1 },
    },
    {
      name: 'GRE: drop-unsupported-proto',
      input: [`IP(src='10.244.1.5', dst='198.18.0.100', proto=47)/b'\\x00\\x00\\x08\\x00'`],
      counters: { 'drop-unsupported-proto': 1 },
    },
    {
      name: 'TTL 1: drop-ttl-exceeded and time exceeded to the pod',
      input: [`IP(src='10.244.1.5', dst='198.18.0.100', ttl=1)/${UDP}`],
      counters: { 'drop-ttl-exceeded': 1, 'icmp-time-exceeded': 1 },
      expect: {
        reply: [
          `IP(src='10.244.1.1', dst='10.244.1.5', tos=0xc0, id=0, ttl=64)/ICMP(type=11, code=0)/bytes(IP(src='10.244.1.5', dst='198.18.0.100', ttl=1)/${UDP})[:28]`,
        ],
      },
    },
    {
      // A bucket of 2 filling at 1000/s: 2 errors at 1000 ms, none for the third, 1 token again at 1001 ms.
      name: 'TTL 1 beyond the error rate limit: the packet dropped, icmp-rate-limited instead of time exceeded',
      state: { icmpErrors: { burst: 2 } },
      steps: [
        { at: 1000, input: [TTL1, TTL1, TTL1] },
        { at: 1001, input: [TTL1] },
      ],
      counters: { 'drop-ttl-exceeded': 4, 'icmp-time-exceeded': 3, 'icmp-rate-limited': 1 },
      expect: { reply: [TTL1_ERROR, TTL1_ERROR, TTL1_ERROR] },
    },
    {
      name: 'fragmentation needed is not rate limited (path MTU discovery): 3 with a bucket of 0',
      state: { icmpErrors: { burst: 0 } },
      input: [BIG_DF, BIG_DF, BIG_DF],
      counters: { 'drop-too-big': 3, 'icmp-frag-needed': 3 },
    },
    {
      name: 'TTL 1 with no free slot for the ICMP error: drop-no-buffer',
      slots: 1,
      input: [`IP(src='10.244.1.5', dst='198.18.0.100', ttl=1)/${UDP}`],
      counters: { 'drop-ttl-exceeded': 1, 'drop-no-buffer': 1 },
    },
    {
      name: 'a loose source route option (LSRR): drop-source-route',
      input: [
        {
          pkt: `IP(src='10.244.1.5', dst='198.18.0.100', options=[IPOption_LSRR(routers=['198.18.0.1'])])/${UDP}`,
          port: 0,
        },
      ],
      counters: { 'drop-source-route': 1 },
    },
    {
      name: 'a record-route option whose length (9) runs past the 24-byte header: drop-bad-options',
      input: [
        {
          pkt: `IP(src='10.244.1.5', dst='198.18.0.100', options=[IPOption_RR(length=9, pointer=4, routers=[])])/${UDP}`,
          port: 0,
        },
      ],
      counters: { 'drop-bad-options': 1 },
    },
  ],
};
