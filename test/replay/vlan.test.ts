/**
 * The `vlan` scenario (captures/replay/vlan/: an ExternalIPPool on subnet 198.18.10.0/24, VLAN 10, gateway
 * 198.18.10.1, its IP hosted by node-a; docs/semantics.md §3.1) read with tshark: what leaves for the egress IP is
 * 802.1Q-tagged with VLAN 10 and goes to the pool gateway's MAC, ARP for it is on VLAN 10, Geneve from the
 * other node stays untagged on the segment, the unselected pod leaves untagged with its node IP, and the replies
 * that come back tagged are un-NATed to the pods.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKSUM_PREFS, hasTshark } from '../support/tshark.js';
import { fields, replay, SCENARIOS } from './scenarios.js';

const tmp = mkdtempSync(join(tmpdir(), 'egress-vlan-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const NODE_A_MAC = '02:0e:c6:12:00:0b';
const GW_MAC = '02:ee:c6:12:0a:01'; // the replay's host MAC rule: 02:ee + 198.18.10.1
const EGRESS_IP = '198.18.10.2';

describe.skipIf(!hasTshark())('replay: an egress IP on a VLAN subnet (tshark)', () => {
  const seg = join(tmp, 'segment.pcap');
  beforeAll(async () => {
    await replay(
      SCENARIOS.find((s) => s.name === 'vlan')!,
      tmp,
    );
  });

  it("pods' packets leave SNATed to the egress IP, tagged VLAN 10, to the pool gateway, with good checksums", () => {
    const rows = fields(
      seg,
      `ip.src==${EGRESS_IP} && !icmp.type==0`,
      ['vlan.id', 'eth.src', 'eth.dst', 'ip.dst', 'ip.checksum.status', 'udp.checksum.status', 'tcp.checksum.status'],
      CHECKSUM_PREFS,
    );
    // web-a's and web-b's UDP, web-a's SYN to showip (off the VLAN subnet: via the gateway); web-b's echo request
    // to the gateway itself (on the subnet: the gateway is the destination).
    expect(rows.map((r) => r.join(' '))).toEqual([
      `10 ${NODE_A_MAC} ${GW_MAC} 198.18.0.100 1 1 `,
      `10 ${NODE_A_MAC} ${GW_MAC} 198.18.0.100 1 1 `,
      `10 ${NODE_A_MAC} ${GW_MAC} 198.18.0.100 1  1`,
      `10 ${NODE_A_MAC} ${GW_MAC} 198.18.10.1 1  `,
    ]);
    expect(fields(seg, `ip.addr==${EGRESS_IP} && !vlan && !geneve`, ['frame.number'])).toEqual([]);
  });

  it('ARP for and from the egress IP is on VLAN 10: its gratuitous ARP, the request for the gateway, the answer', () => {
    const arps = fields(seg, `arp && (arp.src.proto_ipv4==${EGRESS_IP} || arp.dst.proto_ipv4==${EGRESS_IP})`, [
      'vlan.id',
      'arp.opcode',
      'arp.src.proto_ipv4',
      'arp.dst.proto_ipv4',
    ]);
    expect(arps).toEqual([
      ['10', '1', EGRESS_IP, EGRESS_IP],
      ['10', '1', EGRESS_IP, '198.18.10.1'],
      ['10', '2', '198.18.10.1', EGRESS_IP],
    ]);
  });

  it("web-b's traffic reaches node-a in untagged Geneve to the egress IP; prod/db leaves untagged with its node IP", () => {
    // The outer headers (tshark's first occurrence of each field).
    const outer = fields(
      seg,
      `geneve && ip.dst==${EGRESS_IP}`,
      ['vlan.id', 'eth.dst', 'ip.src'],
      ['-E', 'occurrence=f'],
    );
    expect(outer).toEqual([
      ['', NODE_A_MAC, '198.18.0.12'],
      ['', NODE_A_MAC, '198.18.0.12'],
    ]);
    expect(fields(seg, 'ip.src==198.18.0.12 && udp.dstport==9 && !geneve', ['vlan.id', 'ip.dst'])).toEqual([
      ['', '198.18.0.100'],
    ]);
  });

  it('the replies, tagged to the egress IP, are un-NATed to the pods', () => {
    const got = fields(join(tmp, 'pods.pcap'), 'ip', ['ip.src', 'ip.dst', 'ip.proto']);
    expect(got).toEqual([
      ['198.18.0.100', '198.19.1.10', '17'],
      ['198.18.0.100', '198.19.2.10', '17'],
      ['198.18.0.100', '198.19.1.10', '6'],
      ['198.18.10.1', '198.19.2.10', '1'],
      ['198.18.0.100', '198.19.2.20', '17'],
    ]);
  });
});
