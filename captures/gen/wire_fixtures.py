#!/usr/bin/python3
"""Generate the engine/wire test fixtures: small pcaps under captures/wire/, each with a JSON sidecar.

Run from anywhere with Debian's scapy (python3-scapy), not the python3 first on PATH:

    /usr/bin/python3 captures/gen/wire_fixtures.py [--out DIR]   (default: captures/wire/)

Deterministic: fixed MACs, addresses in 198.18.0.0/15 (RFC 2544 benchmarking range) and, for IPv6, in
2001:2::/48 (RFC 5180) or link-local fe80::/10, fixed ports, IDs,
sequence numbers, payload patterns and timestamps, so re-running it rewrites byte-identical files.

The sidecar captures/wire/<name>.jsonl (JSON Lines: a header line, then one line per packet) holds, for every packet of <name>.pcap, its length and each layer as
scapy dissected the built bytes again: class name, offset in the frame, and the header field values scapy
assigned (lengths and checksums included). The tests compare engine/wire's parse with these values and its
emit with the pcap bytes, so no expectation comes from the code under test. captures/README.md describes
every file.
"""
import json
import os
import sys

from scapy.all import ARP, IP, TCP, UDP, ICMP, Ether, Dot1Q, Dot1AD, Raw, Padding, raw, wrpcap, fragment
from scapy.all import IPOption_Router_Alert, IPOption_RR
from scapy.layers.inet import IPerror, UDPerror, TCPerror, ICMPerror
from scapy.contrib.geneve import GENEVE, GeneveOptions
from scapy.layers.inet6 import (IPv6, IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting, IPv6ExtHdrFragment,
                                ICMPv6EchoRequest, ICMPv6EchoReply, ICMPv6DestUnreach, ICMPv6PacketTooBig,
                                ICMPv6TimeExceeded, ICMPv6ParamProblem, ICMPv6ND_NS, ICMPv6ND_NA, ICMPv6ND_RS,
                                ICMPv6ND_RA, ICMPv6NDOptSrcLLAddr, ICMPv6NDOptDstLLAddr, ICMPv6NDOptPrefixInfo,
                                ICMPv6NDOptMTU, RouterAlert, PadN)
import scapy

# scapy 2.5's GeneveOptions lacks extract_padding, so a dissected option swallows the options after it as its
# payload and the option list has one entry. Newer scapy has this fix; apply it for the dissection below.
GeneveOptions.extract_padding = lambda self, s: (b'', s)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'wire')
T0 = 1767225600  # 2026-01-01T00:00:00Z

# Fixed addresses. Node MACs are locally administered (02:...).
NODE1_MAC = '02:00:00:00:00:01'
NODE2_MAC = '02:00:00:00:00:02'
GW_MAC = '02:00:00:00:01:fe'
POD_MAC = '02:00:00:00:02:0a'
EXT_MAC = '02:00:00:00:03:64'
VMAC = 'aa:bb:cc:dd:ee:ff'  # Antrea GlobalVirtualMAC
BCAST = 'ff:ff:ff:ff:ff:ff'
NODE1_IP = '198.18.0.1'
NODE2_IP = '198.18.0.2'
EGRESS_IP = '198.18.0.3'
EXT_IP = '198.18.0.100'
POD_IP = '198.18.64.10'
ROUTER_IP = '198.18.0.254'
NODE1_IP6 = '2001:2::1'
NODE2_IP6 = '2001:2::2'
EGRESS_IP6 = '2001:2::3'
EXT_IP6 = '2001:2::64'
POD_IP6 = '2001:2:0:40::a'
ROUTER_LL = 'fe80::1fe'
POD_LL = 'fe80::2:a'
EXT_LL = 'fe80::3:64'
ALL_NODES = 'ff02::1'
ALL_ROUTERS = 'ff02::2'


def payload(n, seed=0):
    return bytes(((i * 7 + seed) & 0xff) for i in range(n))


def udp_zero_sum_payload():
    """A UDP payload whose computed checksum is 0, so RFC 768 (and scapy) transmits 0xffff."""
    base = IP(src=POD_IP, dst=EXT_IP, id=0x2222, flags='DF') / UDP(sport=40002, dport=9) / Raw(b'\x00\x00' + b'zero-sum')
    ck = raw(base)[20 + 6] << 8 | raw(base)[20 + 7]  # checksum with the first two payload bytes zero
    s = ~ck & 0xffff  # folded sum
    x = 0xffff - s  # adding x makes the folded sum 0xffff, so the checksum is 0
    return bytes([x >> 8, x & 0xff]) + b'zero-sum'


def eth(src=POD_MAC, dst=GW_MAC):
    return Ether(src=src, dst=dst)


def build():
    files = {}

    files['eth-ipv4-udp.pcap'] = [
        eth() / IP(src=POD_IP, dst=EXT_IP, id=0x1234, flags='DF', ttl=64) / UDP(sport=40000, dport=53) / Raw(payload(32)),
        # The sender generated no checksum (field 0).
        eth() / IP(src=POD_IP, dst=EXT_IP, id=0x1235, ttl=63) / UDP(sport=40001, dport=5353, chksum=0) / Raw(payload(20, 3)),
        # Computed checksum 0, transmitted as 0xffff.
        eth() / IP(src=POD_IP, dst=EXT_IP, id=0x2222, flags='DF') / UDP(sport=40002, dport=9) / Raw(udp_zero_sum_payload()),
        # Odd payload length.
        eth() / IP(src=POD_IP, dst=EXT_IP, id=0x1236, tos=0x2e) / UDP(sport=40003, dport=7) / Raw(payload(13, 9)),
        # Empty payload, Ethernet padding to the 60-byte minimum (IPv4 total length < frame).
        eth() / IP(src=POD_IP, dst=EXT_IP, id=0x1237) / UDP(sport=40004, dport=7) / Padding(b'\x00' * 18),
    ]

    synopts = [('MSS', 1460), ('SAckOK', b''), ('Timestamp', (123456789, 0)), ('NOP', None), ('WScale', 7)]
    cseq = 0xfffffff0  # above 2^31, wraps during the connection
    sseq = 0x8a3b2c1d
    c = lambda: eth() / IP(src=POD_IP, dst=EXT_IP, id=0x3000, flags='DF')
    s = lambda: eth(EXT_MAC, POD_MAC) / IP(src=EXT_IP, dst=POD_IP, id=0x4000, flags='DF')
    files['eth-ipv4-tcp.pcap'] = [
        c() / TCP(sport=40000, dport=80, seq=cseq, flags='S', window=64240, options=synopts),
        s() / TCP(sport=80, dport=40000, seq=sseq, ack=cseq + 1, flags='SA', window=65160,
                  options=[('MSS', 1460), ('SAckOK', b''), ('Timestamp', (987654321, 123456789)), ('NOP', None), ('WScale', 7)]),
        c() / TCP(sport=40000, dport=80, seq=cseq + 1, ack=sseq + 1, flags='A', window=502),
        c() / TCP(sport=40000, dport=80, seq=cseq + 1, ack=sseq + 1, flags='PA', window=502) / Raw(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
        s() / TCP(sport=80, dport=40000, seq=sseq + 1, ack=(cseq + 27) & 0xffffffff, flags='FA', window=509),
        c() / TCP(sport=40000, dport=80, seq=(cseq + 27) & 0xffffffff, flags='RU', window=0, urgptr=3) / Raw(b'abc'),
    ]

    files['ipv4-options-tcp.pcap'] = [
        eth() / IP(src=POD_IP, dst=EXT_IP, id=0x5000, options=[IPOption_Router_Alert()]) / TCP(sport=40010, dport=443, seq=1, flags='S', window=1024),
        eth() / IP(src=POD_IP, dst=EXT_IP, id=0x5001, options=[IPOption_RR(routers=['198.18.0.254', '0.0.0.0'])]) / TCP(sport=40011, dport=443, seq=2, ack=3, flags='A', window=2048) / Raw(b'hi'),
    ]

    files['vlan-tagged.pcap'] = [
        eth() / Dot1Q(vlan=100, prio=3) / IP(src=POD_IP, dst=EXT_IP, id=0x6000) / UDP(sport=40020, dport=53) / Raw(payload(8)),
        Ether(src=POD_MAC, dst=GW_MAC, type=0x88a8) / Dot1AD(vlan=10, prio=5) / Dot1Q(vlan=20) / IP(src=POD_IP, dst=EXT_IP, id=0x6001) / UDP(sport=40021, dport=53) / Raw(payload(8, 1)),
        # Priority-tagged (VID 0) ARP request.
        Ether(src=NODE1_MAC, dst=BCAST) / Dot1Q(vlan=0, prio=6) / ARP(op=1, hwsrc=NODE1_MAC, psrc=NODE1_IP, hwdst='00:00:00:00:00:00', pdst=EGRESS_IP),
    ]

    files['arp-request.pcap'] = [
        Ether(src=NODE1_MAC, dst=BCAST) / ARP(op=1, hwsrc=NODE1_MAC, psrc=NODE1_IP, hwdst='00:00:00:00:00:00', pdst=EGRESS_IP),
        Ether(src=NODE2_MAC, dst=NODE1_MAC) / ARP(op=2, hwsrc=NODE2_MAC, psrc=EGRESS_IP, hwdst=NODE1_MAC, pdst=NODE1_IP),
    ]

    # Antrea's gratuitous ARP (docs/semantics.md §3): request, SHA = MAC, SPA = TPA = egress IP, THA broadcast.
    files['garp.pcap'] = [
        Ether(src=NODE2_MAC, dst=BCAST, type=0x0806) / ARP(hwtype=1, ptype=0x0800, hwlen=6, plen=4, op=1,
                                                        hwsrc=NODE2_MAC, psrc=EGRESS_IP, hwdst=BCAST, pdst=EGRESS_IP),
    ]

    files['icmp-echo.pcap'] = [
        eth() / IP(src=POD_IP, dst=EXT_IP, id=0x7000, flags='DF') / ICMP(type=8, id=0x1c2b, seq=1) / Raw(payload(56)),
        eth(EXT_MAC, POD_MAC) / IP(src=EXT_IP, dst=POD_IP, id=0x7100) / ICMP(type=0, id=0x1c2b, seq=1) / Raw(payload(56)),
        eth() / IP(src=POD_IP, dst=EXT_IP, id=0x7001, flags='DF') / ICMP(type=8, id=0xffff, seq=0xfffe) / Raw(payload(7, 5)),
    ]

    # Fragmentation needed (RFC 1191): quotes a 1500-byte DF datagram's header and first 8 data bytes.
    big = IP(src=EGRESS_IP, dst=EXT_IP, id=0x8000, flags='DF', ttl=63) / UDP(sport=61000, dport=4789) / Raw(payload(1472))
    files['icmp-frag-needed.pcap'] = [
        eth(EXT_MAC, NODE2_MAC) / IP(src=ROUTER_IP, dst=EGRESS_IP, id=0x8100, ttl=255, tos=0xc0) / ICMP(type=3, code=4, nexthopmtu=1400) / Raw(raw(big)[:28]),
    ]

    small_udp = IP(src=EGRESS_IP, dst=EXT_IP, id=0x8001, ttl=64) / UDP(sport=61001, dport=33434) / Raw(payload(12))
    tcp_orig = IP(src=EGRESS_IP, dst=EXT_IP, id=0x8002, flags='DF', ttl=1) / TCP(sport=61002, dport=443, seq=0xdeadbeef, flags='S', window=64240) / Raw(payload(100))
    opt_orig = IP(src=EGRESS_IP, dst=EXT_IP, id=0x8003, options=[IPOption_Router_Alert()]) / UDP(sport=61003, dport=53) / Raw(payload(4))
    echo_orig = IP(src=EGRESS_IP, dst=EXT_IP, id=0x8004, flags='DF') / ICMP(type=8, id=61004, seq=7) / Raw(payload(24))
    r = lambda: eth(EXT_MAC, NODE2_MAC) / IP(src=ROUTER_IP, dst=EGRESS_IP, id=0x8200, ttl=255, tos=0xc0)
    files['icmp-errors.pcap'] = [
        # Port unreachable quoting the whole (small) datagram, as RFC 1812 allows.
        r() / ICMP(type=3, code=3) / Raw(raw(small_udp)),
        # Time exceeded in transit quoting a TCP SYN's header + 8 bytes.
        r() / ICMP(type=11, code=0) / Raw(raw(tcp_orig)[:28]),
        # Parameter problem, pointer 20 (the option), quoting a header with options + 8 bytes.
        r() / ICMP(type=12, code=0, ptr=20) / Raw(raw(opt_orig)[:32]),
        # Host unreachable about an echo request.
        r() / ICMP(type=3, code=1) / Raw(raw(echo_orig)[:28]),
    ]

    def geneve_outer(sport, opts=None, **kw):
        g = GENEVE(vni=kw.get('vni', 0), proto=0x6558, optionlen=kw.get('optionlen', 0),
                   critical=kw.get('critical', 0), oam=kw.get('oam', 0), options=opts or [])
        return (Ether(src=NODE1_MAC, dst=NODE2_MAC) /
                IP(src=NODE1_IP, dst=EGRESS_IP, id=0, flags='DF', ttl=64, tos=0) /
                UDP(sport=sport, dport=6081, chksum=0) / g)

    inner_udp = Ether(src=GW_MAC, dst=VMAC) / IP(src=POD_IP, dst=EXT_IP, id=0x9000, flags='DF', ttl=63) / UDP(sport=40030, dport=53) / Raw(payload(20))
    inner_tcp = Ether(src=GW_MAC, dst=VMAC) / IP(src=POD_IP, dst=EXT_IP, id=0x9001, flags='DF', ttl=63) / TCP(sport=40031, dport=80, seq=1000, flags='S', window=64240, options=[('MSS', 1410)])
    files['geneve-udp.pcap'] = [
        geneve_outer(51234) / inner_udp,
        geneve_outer(40961) / inner_tcp,
    ]

    # Options: a critical option (class 0x0102 OVN, type 0x80|1, 4 data bytes) and a plain one (class 0xffff,
    # type 5, 8 data bytes): 2 + 3 = 5 words. optionlen is set explicitly (scapy's automatic value masks bit 4).
    o1 = GeneveOptions(classid=0x0102, type=0x81, length=1, data=b'\x00\x01\x00\x02')
    o2 = GeneveOptions(classid=0xffff, type=0x05, length=2, data=b'\xde\xad\xbe\xef\x01\x02\x03\x04')
    o3 = GeneveOptions(classid=0x0101, type=0x10, length=0, data=b'')
    files['geneve-options.pcap'] = [
        geneve_outer(50000, [o1, o2], optionlen=5, critical=1) / inner_udp,
        geneve_outer(50001, [o3, o2], optionlen=4, vni=0x123456, oam=1) / inner_udp,
    ]

    frag_src = IP(src=POD_IP, dst=EXT_IP, id=0x4242, ttl=64) / UDP(sport=40040, dport=9000) / Raw(payload(3000))
    files['ip-fragment.pcap'] = [eth() / f for f in fragment(frag_src, fragsize=1480)]

    build_ipv6(files, geneve_outer)
    return files


def sol_node(a):
    """Solicited-node multicast address of an IPv6 address (RFC 4291 §2.7.1)."""
    from scapy.utils6 import in6_getnsma
    import socket
    return socket.inet_ntop(socket.AF_INET6, in6_getnsma(socket.inet_pton(socket.AF_INET6, a)))


def sol_mac(a):
    from scapy.utils6 import in6_getnsmac, in6_getnsma
    import socket
    return in6_getnsmac(in6_getnsma(socket.inet_pton(socket.AF_INET6, a)))


def build_ipv6(files, geneve_outer):
    e6 = lambda src=POD_MAC, dst=GW_MAC: Ether(src=src, dst=dst, type=0x86dd)
    c6 = lambda **kw: e6() / IPv6(src=POD_IP6, dst=EXT_IP6, hlim=64, **kw)
    files['eth-ipv6-udp-tcp.pcap'] = [
        c6() / UDP(sport=40100, dport=53) / Raw(payload(32)),
        c6(tc=0xb8, fl=0x12345) / UDP(sport=40101, dport=7) / Raw(payload(13, 9)),
        c6() / TCP(sport=40102, dport=80, seq=0xfffffff0, flags='S', window=64240, options=[('MSS', 1440), ('SAckOK', b''), ('NOP', None), ('WScale', 7)]),
        e6(EXT_MAC, POD_MAC) / IPv6(src=EXT_IP6, dst=POD_IP6, hlim=57) / TCP(sport=80, dport=40102, seq=1, ack=0xfffffff1, flags='PA', window=509) / Raw(b'HTTP/1.1 200 OK\r\n\r\n'),
        # Empty UDP payload (and the minimum frame is reached by the headers alone: 14 + 40 + 8).
        c6() / UDP(sport=40103, dport=9),
    ]

    # One extension header of each kind, then RFC 8200 §4.1's recommended order in one chain (5 headers).
    files['ipv6-ext.pcap'] = [
        c6() / IPv6ExtHdrHopByHop(options=[RouterAlert(value=0), PadN(optdata=b'')]) / UDP(sport=40110, dport=53) / Raw(payload(8)),
        c6() / IPv6ExtHdrDestOpt(options=[PadN(optdata=b'\x00' * 12)]) / TCP(sport=40111, dport=443, seq=5, flags='S', window=1024),
        c6() / IPv6ExtHdrRouting(type=0, segleft=0, addresses=[EXT_IP6]) / UDP(sport=40112, dport=53) / Raw(payload(4)),
        # An atomic fragment (offset 0, M clear, RFC 6946): not a fragment.
        c6() / IPv6ExtHdrFragment(offset=0, m=0, id=0x11223344) / UDP(sport=40113, dport=53) / Raw(payload(6)),
        # First and second fragment of a UDP datagram.
        c6() / IPv6ExtHdrFragment(nh=17, offset=0, m=1, id=0x55667788) / Raw(raw(UDP(sport=40114, dport=9000, len=1408, chksum=0x1234))[:8] + payload(1224)),
        c6() / IPv6ExtHdrFragment(nh=17, offset=154, m=0, id=0x55667788) / Raw(payload(176, 3)),
        c6() / IPv6ExtHdrHopByHop(options=[RouterAlert(value=0), PadN(optdata=b'')]) / IPv6ExtHdrDestOpt(options=[PadN(optdata=b'\x00\x00\x00\x00')])
        / IPv6ExtHdrRouting(type=0, segleft=0, addresses=[EXT_IP6]) / IPv6ExtHdrFragment(offset=0, m=0, id=7)
        / IPv6ExtHdrDestOpt(options=[PadN(optdata=b'\x00\x00\x00\x00')]) / ICMPv6EchoRequest(id=0x2c3d, seq=2, data=payload(16)),
    ]

    dst8 = lambda: IPv6ExtHdrDestOpt(options=[PadN(optdata=b'\x00\x00\x00\x00')])
    chain9 = dst8()
    for _ in range(8):
        chain9 = chain9 / dst8()
    # The malformed Destination Options header: Hdr Ext Len 0 (8 bytes), a PadN announcing 10 data bytes.
    bad_opt = b'\x11\x00\x01\x0a\x00\x00\x00\x00'
    files['ipv6-ext-bad.pcap'] = [
        # 0: nine extension headers (limit 8): chain-too-long.
        c6() / chain9 / UDP(sport=40120, dport=53) / Raw(payload(4)),
        # 1: one 264-byte Destination Options header (limit 256 bytes): chain-too-long.
        c6() / IPv6ExtHdrDestOpt(options=[PadN(optdata=b'\x00' * 128), PadN(optdata=b'\x00' * 130)]) / UDP(sport=40121, dport=53),
        # 2: an option running past its header: bad-field.
        c6(nh=60) / Raw(bad_opt + raw(UDP(sport=40122, dport=53))),
        # 3: Hop-by-Hop after Destination Options: hop-by-hop-not-first.
        c6() / IPv6ExtHdrDestOpt(options=[PadN(optdata=b'\x00\x00\x00\x00')]) / IPv6ExtHdrHopByHop(options=[PadN(optdata=b'\x00\x00\x00\x00')]) / UDP(sport=40123, dport=53),
        # 4: Next Header 253 (experimentation, RFC 3692) after a Destination Options header: unknown-next-header.
        c6() / IPv6ExtHdrDestOpt(nh=253, options=[PadN(optdata=b'\x00\x00\x00\x00')]) / Raw(payload(8)),
        # 5: a source route (Segments Left 1): unsupported.
        c6() / IPv6ExtHdrRouting(type=0, segleft=1, addresses=[EXT_IP6]) / UDP(sport=40124, dport=53),
        # 6: a Destination Options header whose Hdr Ext Len (2: 24 bytes) runs past the 16-byte payload: truncated.
        c6(nh=60) / Raw(b'\x11\x02\x01\x0c' + b'\x00' * 12),
    ]

    echo_data = payload(56)
    files['icmpv6-echo.pcap'] = [
        c6() / ICMPv6EchoRequest(id=0x1c2b, seq=1, data=echo_data),
        e6(EXT_MAC, POD_MAC) / IPv6(src=EXT_IP6, dst=POD_IP6, hlim=64) / ICMPv6EchoReply(id=0x1c2b, seq=1, data=echo_data),
        c6() / ICMPv6EchoRequest(id=0xffff, seq=0xfffe, data=payload(7, 5)),
    ]

    big = IPv6(src=EGRESS_IP6, dst=EXT_IP6, hlim=63) / UDP(sport=61100, dport=9000) / Raw(payload(1452))
    small_udp = IPv6(src=EGRESS_IP6, dst=EXT_IP6, hlim=64) / UDP(sport=61101, dport=33434) / Raw(payload(12))
    tcp_orig = IPv6(src=EGRESS_IP6, dst=EXT_IP6, hlim=1) / TCP(sport=61102, dport=443, seq=0xdeadbeef, flags='S', window=64240)
    unk_orig = IPv6(src=EGRESS_IP6, dst=EXT_IP6, nh=253) / Raw(payload(8))
    r6 = lambda: e6(EXT_MAC, NODE2_MAC) / IPv6(src=ROUTER_LL, dst=EGRESS_IP6, hlim=64)
    files['icmpv6-errors.pcap'] = [
        # Port unreachable quoting the whole datagram.
        r6() / ICMPv6DestUnreach(code=4) / raw(small_udp),
        # Packet Too Big, MTU 1280, quoting as much as fits in 1280 bytes (RFC 4443 §2.4 c): 1232 bytes.
        r6() / ICMPv6PacketTooBig(mtu=1280) / raw(big)[:1232],
        # Hop limit exceeded in transit, about a TCP SYN.
        r6() / ICMPv6TimeExceeded(code=0) / raw(tcp_orig),
        # Parameter problem code 1 (unrecognized Next Header), pointer 6 (the Next Header field).
        r6() / ICMPv6ParamProblem(code=1, ptr=6) / raw(unk_orig),
    ]

    nd = lambda src_mac, dst_mac, src, dst, hlim=255: Ether(src=src_mac, dst=dst_mac, type=0x86dd) / IPv6(src=src, dst=dst, hlim=hlim)
    files['ndp.pcap'] = [
        # 0: the external host resolves the egress IP (address resolution, source LLA option).
        nd(EXT_MAC, sol_mac(EGRESS_IP6), EXT_IP6, sol_node(EGRESS_IP6)) / ICMPv6ND_NS(tgt=EGRESS_IP6) / ICMPv6NDOptSrcLLAddr(lladdr=EXT_MAC),
        # 1: the owner's solicited answer: S and O set, target LLA option (RFC 4861 §7.2.4).
        nd(NODE2_MAC, EXT_MAC, EGRESS_IP6, EXT_IP6) / ICMPv6ND_NA(R=0, S=1, O=1, tgt=EGRESS_IP6) / ICMPv6NDOptDstLLAddr(lladdr=NODE2_MAC),
        # 2: the unsolicited NA on takeover, O only, to all-nodes (RFC 4861 §7.2.6): IPv6's gratuitous ARP.
        nd(NODE2_MAC, '33:33:00:00:00:01', EGRESS_IP6, ALL_NODES) / ICMPv6ND_NA(R=0, S=0, O=1, tgt=EGRESS_IP6) / ICMPv6NDOptDstLLAddr(lladdr=NODE2_MAC),
        # 3: Duplicate Address Detection: from ::, no source LLA option.
        nd(EXT_MAC, sol_mac(EGRESS_IP6), '::', sol_node(EGRESS_IP6)) / ICMPv6ND_NS(tgt=EGRESS_IP6),
        # 4: a pod's router solicitation.
        nd(POD_MAC, '33:33:00:00:00:02', POD_LL, ALL_ROUTERS) / ICMPv6ND_RS() / ICMPv6NDOptSrcLLAddr(lladdr=POD_MAC),
        # 5: a router advertisement (what must be dropped when a pod sends it).
        nd(GW_MAC, '33:33:00:00:00:01', ROUTER_LL, ALL_NODES) / ICMPv6ND_RA(chlim=64, M=0, O=1, routerlifetime=1800, reachabletime=30000, retranstimer=1000)
        / ICMPv6NDOptSrcLLAddr(lladdr=GW_MAC) / ICMPv6NDOptMTU(mtu=1500)
        / ICMPv6NDOptPrefixInfo(prefixlen=64, L=1, A=1, validlifetime=86400, preferredlifetime=14400, prefix='2001:2:0:40::'),
        # 6: bad: an NS with hop limit 64 (from off-link).
        nd(EXT_MAC, sol_mac(EGRESS_IP6), EXT_IP6, sol_node(EGRESS_IP6), hlim=64) / ICMPv6ND_NS(tgt=EGRESS_IP6) / ICMPv6NDOptSrcLLAddr(lladdr=EXT_MAC),
        # 7: bad: an NA to all-nodes with the Solicited flag.
        nd(NODE1_MAC, '33:33:00:00:00:01', NODE1_IP6, ALL_NODES) / ICMPv6ND_NA(R=0, S=1, O=1, tgt=EGRESS_IP6) / ICMPv6NDOptDstLLAddr(lladdr=NODE1_MAC),
        # 8: bad: an NS with an option of length 0.
        nd(EXT_MAC, sol_mac(EGRESS_IP6), EXT_IP6, sol_node(EGRESS_IP6)) / ICMPv6ND_NS(tgt=EGRESS_IP6) / Raw(b'\x01\x00' + bytes.fromhex(EXT_MAC.replace(':', ''))),
        # 9: bad: an RA from a global (not link-local) source.
        nd(POD_MAC, '33:33:00:00:00:01', POD_IP6, ALL_NODES) / ICMPv6ND_RA(chlim=64, routerlifetime=1800) / ICMPv6NDOptSrcLLAddr(lladdr=POD_MAC),
    ]

    inner6_udp = Ether(src=GW_MAC, dst=VMAC) / IPv6(src=POD_IP6, dst=EXT_IP6, hlim=63) / UDP(sport=40130, dport=53) / Raw(payload(20))
    inner6_tcp = Ether(src=GW_MAC, dst=VMAC) / IPv6(src=POD_IP6, dst=EXT_IP6, hlim=63) / TCP(sport=40131, dport=80, seq=1000, flags='S', window=64240, options=[('MSS', 1390)])
    files['geneve-ipv6.pcap'] = [
        geneve_outer(51300) / inner6_udp,
        geneve_outer(51301) / inner6_tcp,
    ]


def mac_or(x):
    return str(x)


def field_value(layer, name):
    v = layer.getfieldval(name)
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    if isinstance(v, int):
        return int(v)
    if v is None:
        return None
    try:
        return int(v)  # FlagValue
    except (TypeError, ValueError):
        return str(v)


FIELDS = {
    'Ether': ['dst', 'src', 'type'],
    'Dot1Q': ['prio', 'id', 'vlan', 'type'],
    'Dot1AD': ['prio', 'id', 'vlan', 'type'],
    'ARP': ['hwtype', 'ptype', 'hwlen', 'plen', 'op', 'hwsrc', 'psrc', 'hwdst', 'pdst'],
    'IP': ['version', 'ihl', 'tos', 'len', 'id', 'flags', 'frag', 'ttl', 'proto', 'chksum', 'src', 'dst'],
    'IPerror': ['version', 'ihl', 'tos', 'len', 'id', 'flags', 'frag', 'ttl', 'proto', 'chksum', 'src', 'dst'],
    'UDP': ['sport', 'dport', 'len', 'chksum'],
    'UDPerror': ['sport', 'dport', 'len', 'chksum'],
    'TCP': ['sport', 'dport', 'seq', 'ack', 'dataofs', 'reserved', 'flags', 'window', 'chksum', 'urgptr'],
    'TCPerror': ['sport', 'dport', 'seq'],
    'ICMP': ['type', 'code', 'chksum'],
    'ICMPerror': ['type', 'code', 'chksum', 'id', 'seq'],
    'GENEVE': ['version', 'optionlen', 'oam', 'critical', 'reserved', 'proto', 'vni', 'reserved2'],
    'IPv6': ['version', 'tc', 'fl', 'plen', 'nh', 'hlim', 'src', 'dst'],
    'IPerror6': ['version', 'tc', 'fl', 'plen', 'nh', 'hlim', 'src', 'dst'],
    'IPv6ExtHdrHopByHop': ['nh', 'len'],
    'IPv6ExtHdrDestOpt': ['nh', 'len'],
    'IPv6ExtHdrRouting': ['nh', 'len', 'type', 'segleft'],
    'IPv6ExtHdrFragment': ['nh', 'offset', 'm', 'id'],
    'ICMPv6EchoRequest': ['type', 'code', 'cksum', 'id', 'seq'],
    'ICMPv6EchoReply': ['type', 'code', 'cksum', 'id', 'seq'],
    'ICMPv6DestUnreach': ['type', 'code', 'cksum'],
    'ICMPv6PacketTooBig': ['type', 'code', 'cksum', 'mtu'],
    'ICMPv6TimeExceeded': ['type', 'code', 'cksum'],
    'ICMPv6ParamProblem': ['type', 'code', 'cksum', 'ptr'],
    'ICMPv6ND_NS': ['type', 'code', 'cksum', 'tgt'],
    'ICMPv6ND_NA': ['type', 'code', 'cksum', 'R', 'S', 'O', 'tgt'],
    'ICMPv6ND_RS': ['type', 'code', 'cksum'],
    'ICMPv6ND_RA': ['type', 'code', 'cksum', 'chlim', 'M', 'O', 'routerlifetime', 'reachabletime', 'retranstimer'],
    'ICMPv6NDOptSrcLLAddr': ['type', 'len', 'lladdr'],
    'ICMPv6NDOptDstLLAddr': ['type', 'len', 'lladdr'],
    'ICMPv6NDOptMTU': ['type', 'len', 'mtu'],
    'ICMPv6NDOptPrefixInfo': ['type', 'len', 'prefixlen', 'L', 'A', 'validlifetime', 'preferredlifetime', 'prefix'],
}


def dump(frame_bytes):
    pkt = Ether(frame_bytes)
    total = len(frame_bytes)
    layers = []
    layer = pkt
    while layer is not None and not isinstance(layer, scapy.packet.NoPayload):
        name = type(layer).__name__
        here = raw(layer)
        entry = {'layer': name, 'offset': total - len(here), 'fields': {}}
        for f in FIELDS.get(name, []):
            entry['fields'][f] = field_value(layer, f)
        if name in ('IP', 'IPerror'):
            entry['fields']['options_hex'] = here[20:layer.ihl * 4].hex()
        if name == 'TCP':
            entry['fields']['options_hex'] = here[20:layer.dataofs * 4].hex()
        if name == 'ICMP':
            t = layer.type
            if t in (0, 8, 13, 14):
                entry['fields']['id'] = int(layer.id)
                entry['fields']['seq'] = int(layer.seq)
            if t == 3:
                entry['fields']['nexthopmtu'] = int(layer.nexthopmtu)
            if t == 12:
                entry['fields']['ptr'] = int(layer.ptr)
        if name == 'GENEVE':
            entry['fields']['options'] = [
                {'classid': int(o.classid), 'type': int(o.type), 'length': int(o.length), 'data_hex': bytes(o.data).hex()}
                for o in layer.options
            ]
        layers.append(entry)
        if name in ('Raw', 'Padding'):
            entry['fields']['len'] = len(layer.load)
        layer = layer.payload
    return {'len': total, 'layers': layers}


def main():
    global OUT
    if len(sys.argv) == 3 and sys.argv[1] == '--out':
        OUT = sys.argv[2]
    elif len(sys.argv) != 1:
        print('usage: wire_fixtures.py [--out DIR]', file=sys.stderr)
        return 2
    os.makedirs(OUT, exist_ok=True)
    files = build()
    expected = {
        'generator': 'captures/gen/wire_fixtures.py',
        'scapy': scapy.__version__,
        'files': {},
    }
    for name, pkts in files.items():
        frames = []
        for i, p in enumerate(pkts):
            b = raw(p)
            q = Ether(b)
            q.time = T0 + i
            frames.append(q)
        wrpcap(os.path.join(OUT, name), frames)
        expected['files'][name] = [dump(raw(q)) for q in frames]
    # A JSON Lines sidecar per pcap (captures/wire/<name>.jsonl): line 1 names the generator and scapy's
    # version, then one packet per line. Small files, readable diffs, and not reformatted by prettier.
    for name, pk in expected['files'].items():
        with open(os.path.join(OUT, name[:-len('.pcap')] + '.jsonl'), 'w') as f:
            head = {'generator': expected['generator'], 'scapy': expected['scapy'], 'pcap': name, 'packets': len(pk)}
            f.write(json.dumps(head, sort_keys=True, separators=(',', ':')) + '\n')
            for p in pk:
                f.write(json.dumps(p, sort_keys=True, separators=(',', ':')) + '\n')
    for name in sorted(files):
        print(f'{name}: {len(files[name])} packets, {os.path.getsize(os.path.join(OUT, name))} bytes')
    return 0


if __name__ == '__main__':
    sys.exit(main())
