#!/usr/bin/python3
"""Generate the link-type and mapping fixtures of `egress replay` (captures/replay-input/).

Run with Debian's scapy (python3-scapy), not the python3 first on PATH:

    /usr/bin/python3 captures/gen/replay_linktypes.py [--out DIR]    (default: captures/replay-input/)

Packets are built by scapy; the pcapng file's blocks (SHB, two IDBs with if_name, EPBs) are written here with
struct, following draft-ietf-opsawg-pcapng, independently of the engine. Deterministic: re-running rewrites
byte-identical files. Addresses follow examples/reference/cluster.yaml (pods 198.19.x.y, showip 198.18.0.100,
egress IPs 198.18.0.253/254); cluster-addrs.pcap uses a real cluster's addresses (pods 10.244.0.0/16, an outside
server in 203.0.113.0/24, TEST-NET-3) so that --map-pod / --map-addr have something to map. See
captures/README.md, section replay-input/.
"""
import os
import struct
import sys
from decimal import Decimal

from scapy.all import ARP, ICMP, IP, TCP, UDP, Ether, ICMPv6EchoReply, ICMPv6EchoRequest, IPv6, Raw, raw, wrpcap
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Loopback

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'replay-input')
T0 = 1767225600  # 2026-01-01T00:00:00Z

SHOWIP = '198.18.0.100'
WEB_A = '198.19.1.10'  # prod/web-a on node-a
WEB_B = '198.19.2.10'  # prod/web-b on node-b
EGRESS_PROD = '198.18.0.253'


def stamp(pkts, step=0.01):
    for i, p in enumerate(pkts):
        p.time = Decimal(T0) + Decimal(i) * Decimal(str(step))
    return pkts


def udp(src, dst, sport, dport, text):
    return IP(src=src, dst=dst, id=1, flags='DF') / UDP(sport=sport, dport=dport) / Raw(text.encode())


# What `tcpdump -i any` on node-a shows for one pod packet and its answer (PACKET_* types of if_packet.h):
#   in (0) on the pod's interface, out (4) SNATed on the uplink, in (0) the reply on the uplink, out (4) the
#   un-SNATed reply to the pod; plus a broadcast ARP (1), an IPv6 packet, and a second pod's echo request.
def node_view():
    return [
        ('in', udp(WEB_A, SHOWIP, 40000, 9, 'from web-a')),
        ('out', udp(EGRESS_PROD, SHOWIP, 40000, 9, 'from web-a')),
        ('in', udp(SHOWIP, EGRESS_PROD, 9, 40000, 'back to web-a')),
        ('out', udp(SHOWIP, WEB_A, 9, 40000, 'back to web-a')),
        ('bcast', ARP(op=1, hwsrc='02:ee:c6:12:00:64', psrc=SHOWIP, pdst='198.18.0.11')),
        ('in', IPv6(src='2001:2::1', dst='2001:2::2') / UDP(sport=1, dport=2)),
        ('in', IP(src=WEB_B, dst=SHOWIP, id=2, flags='DF') / ICMP(id=7, seq=1) / Raw(b'ping')),
    ]


PTYPE = {'in': 0, 'bcast': 1, 'out': 4}
ETYPE = {IP: 0x0800, IPv6: 0x86DD, ARP: 0x0806}


def etype(p):
    for k, v in ETYPE.items():
        if isinstance(p, k):
            return v
    raise ValueError(p)


def sll():
    out = []
    for d, p in node_view():
        out.append(CookedLinux(pkttype=PTYPE[d], lladdrtype=1, lladdrlen=6, src=b'\x02\x0e\xc6\x12\x00\x0b\x00\x00', proto=etype(p)) / p)
    return stamp(out)


def sll2():
    out = []
    for i, (d, p) in enumerate(node_view()):
        out.append(
            CookedLinuxV2(proto=etype(p), ifindex=2 if d != 'in' or i < 2 else 5, lladdrtype=1, pkttype=PTYPE[d],
                          lladdrlen=6, src=b'\x02\x0e\xc6\x12\x00\x0b\x00\x00') / p
        )
    return stamp(out)


def null():
    # BSD loopback (LINKTYPE_NULL): a 4-byte AF in the capturing host's byte order (little-endian here).
    return stamp([Loopback(type=2) / udp(WEB_A, SHOWIP, 40001, 9, 'null link')])


def cluster_addrs():
    # A real cluster: pod 10.244.1.5 sends to an outside echo server (203.0.113.34) through the egress IP
    # 172.18.0.50; the capture holds the pod's packets (as its node's gateway interface sees them, before SNAT)
    # and the server's answers to the egress IP (as the egress node's uplink sees them). Ethernet frames.
    node, router = '02:00:00:00:00:0a', '02:00:00:00:00:01'
    return stamp([
        Ether(src=node, dst=router) / udp('10.244.1.5', '203.0.113.34', 5353, 7, 'query 1'),
        Ether(src=router, dst=node) / udp('203.0.113.34', '172.18.0.50', 7, 5353, 'answer 1'),
        Ether(src=node, dst=router) / udp('10.244.1.5', '203.0.113.34', 5353, 7, 'query 2'),
        Ether(src=router, dst=node) / udp('203.0.113.34', '172.18.0.50', 7, 5353, 'answer 2'),
    ])


# A real dual-stack cluster's IPv6 addresses (for IPv6 --map-addr/--map-pod): pod fd00:10:244:1::10 (a ULA pod
# CIDR, as kind's fd00:10:244::/56), an outside echo server 2001:db8::34 and the egress IP 2001:db8:1::50
# (RFC 3849, documentation). Only in captures: replay maps them onto captures/replay/dual-stack/cluster.yaml.
POD6, SERVER6, EGRESS6 = 'fd00:10:244:1::10', '2001:db8::34', '2001:db8:1::50'


def cluster_addrs6():
    # As cluster_addrs: the pod's UDP, TCP SYN and ICMPv6 echo request (the node's gateway side, before SNAT66)
    # and the server's answers to the egress IP (the egress node's uplink). Ethernet frames.
    node, router = '02:00:00:00:00:0a', '02:00:00:00:00:01'
    return stamp([
        Ether(src=node, dst=router) / IPv6(src=POD6, dst=SERVER6) / UDP(sport=5353, dport=7) / Raw(b'query 1'),
        Ether(src=router, dst=node) / IPv6(src=SERVER6, dst=EGRESS6) / UDP(sport=7, dport=5353) / Raw(b'answer 1'),
        Ether(src=node, dst=router) / IPv6(src=POD6, dst=SERVER6) / TCP(sport=41000, dport=80, flags='S', seq=1000),
        Ether(src=router, dst=node) / IPv6(src=SERVER6, dst=EGRESS6) / TCP(sport=80, dport=41000, flags='SA', seq=5000, ack=1001),
        Ether(src=node, dst=router) / IPv6(src=POD6, dst=SERVER6) / ICMPv6EchoRequest(id=0x42, seq=1, data=b'ping6'),
        Ether(src=router, dst=node) / IPv6(src=SERVER6, dst=EGRESS6) / ICMPv6EchoReply(id=0x42, seq=1, data=b'ping6'),
    ])


def pod6_any():
    # `tcpdump -i any` inside that pod (SLL2 on its eth0, ifindex 2): its packets are outgoing (4), what it
    # received incoming (0): UDP and an ICMPv6 echo each way.
    def cooked(d, p):
        return CookedLinuxV2(proto=0x86DD, ifindex=2, lladdrtype=1, pkttype=PTYPE[d], lladdrlen=6,
                             src=b'\x02\x00\x00\x00\x00\x0a\x00\x00') / p
    return stamp([
        cooked('out', IPv6(src=POD6, dst=SERVER6) / UDP(sport=5353, dport=7) / Raw(b'query 1')),
        cooked('in', IPv6(src=SERVER6, dst=POD6) / UDP(sport=7, dport=5353) / Raw(b'query 1')),
        cooked('out', IPv6(src=POD6, dst=SERVER6) / ICMPv6EchoRequest(id=0x43, seq=1, data=b'ping6')),
        cooked('in', IPv6(src=SERVER6, dst=POD6) / ICMPv6EchoReply(id=0x43, seq=1, data=b'ping6')),
    ])


def pcapng_two_links(path):
    """Interface 0 "eth0" (Ethernet) and interface 1 "tun0" (RAW): one pod packet on each."""
    def block(btype, body):
        pad = (-len(body)) % 4
        n = 12 + len(body) + pad
        return struct.pack('<II', btype, n) + body + b'\0' * pad + struct.pack('<I', n)

    def opt(code, val):
        return struct.pack('<HH', code, len(val)) + val + b'\0' * ((-len(val)) % 4)

    shb = block(0x0A0D0D0A, struct.pack('<IHHq', 0x1A2B3C4D, 1, 0, -1))
    idb = lambda lt, name: block(1, struct.pack('<HHI', lt, 0, 262144) + opt(2, name.encode()) + opt(0, b''))

    def epb(iface, i, data):
        us = (T0 + i) * 1000000
        return block(6, struct.pack('<IIIII', iface, us >> 32, us & 0xFFFFFFFF, len(data), len(data)) + data)

    eth = raw(Ether(src='02:00:00:00:00:aa', dst='02:00:00:00:00:bb') / udp(WEB_A, SHOWIP, 40010, 9, 'on eth0'))
    rawip = raw(udp(WEB_B, SHOWIP, 40011, 9, 'on tun0'))
    with open(path, 'wb') as f:
        f.write(shb + idb(1, 'eth0') + idb(101, 'tun0') + epb(0, 0, eth) + epb(1, 1, rawip))


def at(pkts, times):
    for p, t in zip(pkts, times):
        p.time = Decimal(t)
    return pkts


def loop():
    # Two outside hosts of the segment exchanging UDP echo (port 7): with --reflect neither answers the other.
    a, b = '198.18.0.100', '198.18.0.101'
    return at([udp(a, b, 7, 7, 'ping'), udp(b, a, 7, 7, 'pong')], [T0, T0 + Decimal('0.01')])


def gaps():
    # Pod packets 600 s apart, then 122 days, then one stamped 0xffffffff.999999 s (year 2106), then 1 s more.
    p = lambda i: udp(WEB_A, SHOWIP, 40000 + i, 9, 'gap')
    t2 = T0 + 600 + 122 * 86400
    return at([p(0), p(1), p(2), p(3), p(4)], [T0, T0 + 600, t2, Decimal(0xFFFFFFFF) + Decimal('0.999999'), t2 + 1])


def mtu():
    # The reference segment's MTU is 1500, the pods' 1450 (1500 - 50 for Geneve).
    pad = lambda n: Raw(b'a' * n)
    host, node_a = '02:ee:c6:12:00:64', '02:0e:c6:12:00:0b'
    other = ('02:00:00:00:00:01', '02:00:00:00:00:02')
    eth = lambda: Ether(src=other[0], dst=other[1])
    return at([
        # 1: a 1628-byte echo request to node-a's MAC: longer than the segment takes (over-mtu at the switch).
        Ether(src=host, dst=node_a) / IP(src=SHOWIP, dst='198.18.0.11') / ICMP() / pad(1600),
        # 2: a 9042-byte jumbo frame: larger than the simulation's packet buffers (undeliverable, oversize).
        Ether(src=host, dst=node_a) / IP(src=SHOWIP, dst='198.18.0.11') / ICMP() / pad(9000),
        # 3: a 1906-byte packet from outside to a pod: larger than the segment MTU (undeliverable, over-mtu).
        eth() / IP(src=SHOWIP, dst=WEB_A) / UDP(sport=9, dport=40000) / pad(1878),
        # 4: a pod sends 1488 bytes without DF: more than its MTU, dropped by pod-ingress (too-big).
        eth() / IP(src=WEB_A, dst=SHOWIP) / UDP(sport=40000, dport=9) / pad(1460),
        # 5: a pod sends 1488 bytes with DF: ICMP fragmentation needed back to the pod (RFC 1191).
        eth() / IP(src=WEB_A, dst=SHOWIP, flags='DF') / UDP(sport=40002, dport=9) / pad(1460),
        # 6, 7: a pod sends 1428 bytes; the outside answers with 1468 bytes (fits the segment, not the tunnel
        # to the pod's node: no DF, so the egress node cuts it in two for the pod MTU).
        eth() / IP(src=WEB_A, dst=SHOWIP) / UDP(sport=40001, dport=9) / pad(1400),
        eth() / IP(src=SHOWIP, dst=EGRESS_PROD) / UDP(sport=9, dport=40001) / pad(1440),
    ], [T0 + Decimal(i) / 100 for i in range(7)])


def linktype_105(path):
    # A pcap of 802.11 frames (LINKTYPE_IEEE802_11): refused by name before any packet.
    hdr = struct.pack('<IHHiIII', 0xA1B2C3D4, 2, 4, 0, 0, 65535, 105)
    frame = bytes(24)
    with open(path, 'wb') as f:
        f.write(hdr + struct.pack('<IIII', T0, 0, len(frame), len(frame)) + frame)


def main():
    out = OUT
    if '--out' in sys.argv:
        out = sys.argv[sys.argv.index('--out') + 1]
    os.makedirs(out, exist_ok=True)
    wrpcap(os.path.join(out, 'sll.pcap'), sll(), linktype=113)
    wrpcap(os.path.join(out, 'sll2.pcap'), sll2(), linktype=276)
    wrpcap(os.path.join(out, 'null.pcap'), null(), linktype=0)
    wrpcap(os.path.join(out, 'cluster-addrs.pcap'), cluster_addrs(), linktype=1)
    wrpcap(os.path.join(out, 'cluster-addrs6.pcap'), cluster_addrs6(), linktype=1)
    wrpcap(os.path.join(out, 'pod6-any.pcap'), pod6_any(), linktype=276)
    pcapng_two_links(os.path.join(out, 'two-links.pcapng'))
    wrpcap(os.path.join(out, 'loop.pcap'), loop(), linktype=101)
    wrpcap(os.path.join(out, 'gaps.pcap'), gaps(), linktype=101)
    wrpcap(os.path.join(out, 'mtu.pcap'), mtu(), linktype=1)
    linktype_105(os.path.join(out, 'ieee802-11.pcap'))


if __name__ == '__main__':
    main()
