#!/usr/bin/python3
"""Generate the input captures of the replay golden tests (captures/replay/<scenario>/in.pcap).

Run with Debian's scapy (python3-scapy), not the python3 first on PATH:

    /usr/bin/python3 captures/gen/replay_inputs.py [--out DIR]    (default: captures/replay/)

Deterministic (fixed addresses, ports, IDs, payloads, seeds and timestamps): re-running it rewrites
byte-identical files. Packets are built by scapy, independently of the engine. Addresses are in
198.18.0.0/15; MACs locally administered. Node MACs follow the replay's rule (02:0e + the node IPv4 address),
host MACs 02:ee + the host address. See captures/README.md, section replay/, for what each scenario holds and
tests/replay for what is asserted.
"""
import os
import random
import sys
from decimal import Decimal

from scapy.all import ARP, ICMP, IP, TCP, UDP, Ether, Dot1Q, IPv6, IPv6ExtHdrDestOpt, ICMPv6EchoRequest, Raw, fragment, raw, wrpcap
from scapy.contrib.geneve import GENEVE

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'replay')
T0 = 1767225600  # 2026-01-01T00:00:00Z


def node_mac(ip):
    return '02:0e:' + ':'.join('%02x' % int(x) for x in ip.split('.'))


def host_mac(ip):
    return '02:ee:' + ':'.join('%02x' % int(x) for x in ip.split('.'))


class Seq:
    """Packets with timestamps `step` seconds apart (kept in whole microseconds, so times are exact)."""

    def __init__(self, step=0.01):
        self.us = T0 * 1000000
        self.step = round(step * 1000000)
        self.pkts = []

    def add(self, p, gap=None):
        p.time = Decimal(self.us) / 1000000
        self.pkts.append(p)
        self.us += self.step if gap is None else round(gap * 1000000)

    def write(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        ether = any(isinstance(p, (Ether, Raw)) for p in self.pkts)
        wrpcap(path, self.pkts, linktype=1 if ether else 101)  # LINKTYPE_ETHERNET or LINKTYPE_RAW


SHOWIP = '198.18.0.100'
# Reference scenario (examples/reference/cluster.yaml): pods and their nodes.
WEB_A = '198.19.1.10'  # prod, node-a
WEB_B = '198.19.2.10'  # prod, node-b
WEB_C = '198.19.3.10'  # staging, node-c
TOOLS = '198.19.2.11'  # dev/tools on node-b, selected by no Egress
WEB_D = '198.19.1.11'  # staging, node-a


# Ethernet header for pod packets in captures whose link type is Ethernet (replay strips it: a pod's port is L3).
POD_ETH = dict(dst='02:00:00:00:00:01', src='02:00:00:00:00:02')


def reference(out):
    s = Seq()
    for i, src in enumerate([WEB_A, WEB_B, WEB_C, WEB_D, TOOLS]):
        s.add(IP(src=src, dst=SHOWIP, id=100 + i) / UDP(sport=40000 + i, dport=9) / ('udp from %s' % src).encode())
        s.add(IP(src=src, dst=SHOWIP, id=200 + i) / TCP(sport=41000 + i, dport=80, flags='S', seq=1000 * i))
        s.add(IP(src=src, dst=SHOWIP, id=300 + i) / TCP(sport=41000 + i, dport=80, flags='PA', seq=1000 * i + 1,
                                                      ack=1) / b'GET / HTTP/1.0\r\n\r\n')
        s.add(IP(src=src, dst=SHOWIP, id=400 + i) / ICMP(type=8, id=0x100 + i, seq=1) / b'ping')
    # Two pods using the same source port toward the same destination: the second keeps or remaps it.
    s.add(IP(src=WEB_A, dst=SHOWIP, id=500) / UDP(sport=5353, dport=53) / b'same port a')
    s.add(IP(src=WEB_B, dst=SHOWIP, id=501) / UDP(sport=5353, dport=53) / b'same port b')
    s.write(os.path.join(out, 'reference', 'in.pcap'))


def bypass(out):
    # captures/replay/bypass/cluster.yaml: gateway 198.18.0.1, service CIDR 198.19.64.0/20,
    # exceptCIDR 198.19.200.0/24, Egress IP 198.18.0.253 on node-a.
    web_a, db_a, web_b, client = '198.19.1.10', '198.19.1.20', '198.19.2.10', '198.18.0.100'
    s = Seq()
    s.add(IP(src=web_a, dst='198.19.250.10', id=1) / UDP(sport=1000, dport=9) / b'to the internet: egress')
    s.add(IP(src=web_a, dst='198.19.200.5', id=2) / UDP(sport=1001, dport=9) / b'exceptCIDR: node snat')
    s.add(IP(src=web_a, dst='198.19.64.10', id=3) / UDP(sport=1002, dport=53) / b'service CIDR: node snat')
    s.add(IP(src=web_a, dst='198.18.0.12', id=4) / UDP(sport=1003, dport=9) / b'remote node IP: node snat')
    s.add(IP(src=web_a, dst='198.18.0.11', id=5) / ICMP(type=8, id=7, seq=1) / b'own node IP')
    s.add(IP(src=web_a, dst=db_a, id=6) / UDP(sport=1004, dport=5432) / b'local pod')
    s.add(IP(src=web_a, dst=web_b, id=7) / TCP(sport=1005, dport=8080, flags='S', seq=5))
    s.add(IP(src=web_b, dst=web_a, id=8) / TCP(sport=8080, dport=1005, flags='SA', seq=77, ack=6))
    s.add(IP(src=web_b, dst='198.19.250.10', id=9) / ICMP(type=8, id=9, seq=1) / b'remote egress')
    # A connection the pod accepts: its answer leaves un-NATed (reply direction), not through the Egress.
    s.add(IP(src=client, dst=web_a, id=10) / TCP(sport=33000, dport=80, flags='S', seq=10))
    s.add(IP(src=web_a, dst=client, id=11) / TCP(sport=80, dport=33000, flags='SA', seq=99, ack=11))
    s.write(os.path.join(out, 'bypass', 'in.pcap'))


def arp(out):
    ext, mac1, mac2 = SHOWIP, host_mac(SHOWIP), '02:ee:00:00:00:99'
    s = Seq()
    # Pod traffic first: nodes resolve the external host.
    s.add(Ether(**POD_ETH) / IP(src=WEB_A, dst=ext, id=1) / UDP(sport=2000, dport=9) / b'before')
    for target in ['198.18.0.253', '198.18.0.254', '198.18.0.11', '198.18.0.12', '198.18.0.99']:
        s.add(Ether(dst='ff:ff:ff:ff:ff:ff', src=mac1) / ARP(op=1, hwsrc=mac1, psrc=ext, pdst=target))
    # Gratuitous ARP from the external host with a new MAC: nodes that know it update their entry.
    s.add(Ether(dst='ff:ff:ff:ff:ff:ff', src=mac2) / ARP(op=1, hwsrc=mac2, psrc=ext, hwdst='ff:ff:ff:ff:ff:ff', pdst=ext))
    s.add(Ether(**POD_ETH) / IP(src=WEB_A, dst=ext, id=2) / UDP(sport=2000, dport=9) / b'after garp')
    # Someone else claims an egress IP (split brain seen from the owner): counted as a conflict.
    s.add(Ether(dst='ff:ff:ff:ff:ff:ff', src='02:ee:00:00:00:66') /
          ARP(op=1, hwsrc='02:ee:00:00:00:66', psrc='198.18.0.253', hwdst='ff:ff:ff:ff:ff:ff', pdst='198.18.0.253'))
    # An unsolicited ARP reply for an unknown address: not learned.
    s.add(Ether(dst=node_mac('198.18.0.11'), src='02:ee:00:00:00:77') /
          ARP(op=2, hwsrc='02:ee:00:00:00:77', psrc='198.18.0.77', hwdst=node_mac('198.18.0.11'), pdst='198.18.0.11'))
    s.write(os.path.join(out, 'arp', 'in.pcap'))


def malformed(out):
    rnd = random.Random(2544)
    na = node_mac('198.18.0.11')
    src = host_mac(SHOWIP)
    good = Ether(dst=na, src=src) / IP(src=SHOWIP, dst='198.18.0.11') / ICMP(type=8, id=1, seq=1) / b'ok'
    s = Seq(step=0.001)
    s.add(good)
    s.add(Raw(raw(good)[:5]))                                          # runt
    s.add(Raw(raw(good)[:20]))                                         # IPv4 header cut
    s.add(Ether(dst=na, src=src) / IP(src=SHOWIP, dst='198.18.0.11', chksum=0x1234) / ICMP())   # bad checksum
    b = bytearray(raw(good)); b[14] = 0x43                             # IHL 3
    s.add(Raw(bytes(b)))
    b = bytearray(raw(good)); b[16:18] = (4000).to_bytes(2, 'big')    # total length beyond the frame
    s.add(Raw(bytes(b)))
    s.add(Ether(dst=na, src=src) / Dot1Q(vlan=7) / IP(src=SHOWIP, dst='198.18.0.11') / ICMP())
    s.add(Ether(dst=na, src=src) / IPv6(src='fe80::1', dst='fe80::2') / UDP(sport=1, dport=2))
    s.add(Ether(dst=na, src=src, type=0x88b5) / b'local experimental ethertype')
    # Geneve: from a non-node, bad version, VNI 5, truncated inner frame.
    inner = Ether(dst='aa:bb:cc:dd:ee:ff', src=node_mac('198.18.0.12')) / IP(src=WEB_B, dst=SHOWIP) / UDP(sport=1, dport=2)
    def gen(srcip, g):
        return Ether(dst=na, src=node_mac('198.18.0.12')) / IP(src=srcip, dst='198.18.0.11', flags='DF') / UDP(sport=4000, dport=6081, chksum=0) / g
    s.add(gen('198.18.0.100', GENEVE(vni=0, proto=0x6558) / inner))
    s.add(gen('198.18.0.12', GENEVE(version=1, vni=0, proto=0x6558) / inner))
    s.add(gen('198.18.0.12', GENEVE(vni=5, proto=0x6558) / inner))
    s.add(gen('198.18.0.12', GENEVE(vni=0, proto=0x6558) / raw(inner)[:30]))
    # Pod packets that are wrong: bad header checksum, truncated L4, unknown protocol, fragment.
    s.add(Ether(**POD_ETH) / IP(src=WEB_A, dst=SHOWIP, chksum=0x4321) / UDP(sport=1, dport=2))
    s.add(Ether(**POD_ETH) / Raw(raw(IP(src=WEB_A, dst=SHOWIP, proto=6, len=24) / b'\x00\x01\x00\x02')))
    s.add(Ether(**POD_ETH) / IP(src=WEB_A, dst=SHOWIP, proto=47) / b'gre?')
    s.add(Ether(**POD_ETH) / IP(src=WEB_A, dst=SHOWIP, flags='MF') / UDP(sport=1, dport=2) / b'frag')
    # Random and mutated frames (seeded).
    for _ in range(40):
        s.add(Raw(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 120)))))
    base = raw(Ether(dst=na, src=src) / IP(src=SHOWIP, dst='198.18.0.253') / UDP(sport=9, dport=40000) / b'mutate me')
    for _ in range(40):
        b = bytearray(base)
        for _ in range(rnd.randint(1, 4)):
            b[rnd.randrange(len(b))] = rnd.getrandbits(8)
        s.add(Raw(bytes(b)))
    s.add(good)
    s.write(os.path.join(out, 'malformed', 'in.pcap'))


def failover(out):
    # examples/reference + captures/replay/failover/timeline.yaml: the node hosting 198.18.0.253 fails at 0.3 s
    # and comes back at 1.6 s; prod pods send every 50 ms.
    s = Seq(step=0.05)
    for i in range(40):
        s.add(IP(src=WEB_A, dst=SHOWIP, id=i) / UDP(sport=45000, dport=9) / ('a%02d' % i).encode(), gap=0)
        s.add(IP(src=WEB_B, dst=SHOWIP, id=i) / UDP(sport=45001, dport=9) / ('b%02d' % i).encode())
    s.write(os.path.join(out, 'failover', 'in.pcap'))


def failover_state(out):
    # examples/reference + captures/replay/failover-state/timeline.yaml, replayed with --conn-sync: node-c (owner
    # of 198.18.0.253) fails at 0.5 s for good and node-a takes the IP over with the connections node-c replicated
    # to it. Every 100 ms: UDP from prod/web-a (node-a) and prod/web-b (node-b), both from source port 40000 to
    # showip:9 (web-b starts one step later, so node-c keeps 40000 for web-a and remaps web-b), and TCP from each
    # to showip:80 (SYN, then 4-byte segments). The pods are quiet from 0.5 s to 1.5 s; at 1.45 s, after the
    # takeover (about 1.0 s) and before the pods send again, showip pushes one datagram to 198.18.0.253:40000:
    # only replicated state lets node-a un-NAT it to web-a. First, staging/web-d (node-a)
    # and staging/web-c (node-c) both send from port 40000 through 198.18.0.254 (node-a): node-a remaps one, so
    # its port choices differ from node-c's (every replay node has the same conntrack seed).
    s = Seq(step=0.1)
    for pod in (WEB_D, WEB_C):
        s.add(IP(src=pod, dst=SHOWIP, id=50) / UDP(sport=40000, dport=9) / b'staging', gap=0)
    for i in range(25):
        for j, pod in enumerate((WEB_A, WEB_B) if not 5 <= i < 15 else ()):
            tag = ('a' if j == 0 else 'b') + '%02d' % i
            if i > 0 or j == 0:
                udp = IP(src=pod, dst=SHOWIP, id=100 + i) / UDP(sport=40000, dport=9) / ('u' + tag).encode()
                s.add(udp, gap=0)
            if i == 0:
                tcp = TCP(sport=41000 + j, dport=80, flags='S', seq=1000)
                s.add(IP(src=pod, dst=SHOWIP, id=200) / tcp, gap=0)
            else:
                tcp = TCP(sport=41000 + j, dport=80, flags='PA', seq=1001 + 4 * (i - 1), ack=5001)
                s.add(IP(src=pod, dst=SHOWIP, id=200 + i) / tcp / ('t' + tag).encode(), gap=0)
        if i == 14:
            s.us += 50000
            push = IP(src=SHOWIP, dst='198.18.0.253', id=999) / UDP(sport=9, dport=40000) / b'push'
            s.add(push, gap=0.05)  # from outside: the host showip sends it (ARP, its own MAC)
        else:
            s.us += s.step
    s.write(os.path.join(out, 'failover-state', 'in.pcap'))


def icmp(out):
    # examples/reference, --reflect: ICMP errors through the NAT (docs/semantics.md §4.h). prod/web-a (node-a)
    # and prod/web-b (node-b) leave through 198.18.0.253 on node-c, so every error crosses the tunnel.
    egress, router = '198.18.0.253', '198.18.0.1'
    s = Seq()
    s.add(IP(src=WEB_A, dst=SHOWIP, id=1) / UDP(sport=40100, dport=9) / b'a to showip')
    s.add(IP(src=WEB_B, dst=SHOWIP, id=2, flags='DF') / TCP(sport=41100, dport=80, flags='S', seq=7))
    # 3: a router's fragmentation needed about web-a's datagram as it left (SNATed, TTL 63), quoted whole.
    s.add(IP(src=router, dst=egress) / ICMP(type=3, code=4, nexthopmtu=1400)
          / IP(src=egress, dst=SHOWIP, id=1, ttl=63) / UDP(sport=40100, dport=9) / b'a to showip')
    # 4: time exceeded about web-b's SYN, header + 8 bytes quoted (RFC 792).
    s.add(IP(src=router, dst=egress) / ICMP(type=11, code=0)
          / Raw(raw(IP(src=egress, dst=SHOWIP, id=2, flags='DF', ttl=63) / TCP(sport=41100, dport=80, flags='S', seq=7))[:28]))
    # 5: web-a closed its socket: port unreachable about showip's reflected answer.
    s.add(IP(src=WEB_A, dst=SHOWIP, tos=0xc0, id=5) / ICMP(type=3, code=3)
          / IP(src=SHOWIP, dst=WEB_A, ttl=63) / UDP(sport=9, dport=40100) / b'a to showip')
    # 6, 7: errors about no connection (from outside, and from web-a): counted drops, nothing forwarded.
    s.add(IP(src=router, dst=egress) / ICMP(type=3, code=1) / IP(src=egress, dst=SHOWIP, ttl=63) / UDP(sport=40999, dport=9))
    s.add(IP(src=WEB_A, dst=SHOWIP, id=7) / ICMP(type=3, code=3) / IP(src=SHOWIP, dst=WEB_A) / UDP(sport=9, dport=40999))
    # 8: showip sends 1480 bytes with DF to web-a's connection: more than the tunnel to node-a takes, so node-c
    # answers fragmentation needed (MTU 1450) from 198.18.0.253.
    s.add(IP(src=SHOWIP, dst=egress, id=8, flags='DF') / UDP(sport=9, dport=40100) / (b'z' * 1452))
    s.write(os.path.join(out, 'icmp', 'in.pcap'))


def fragments(out):
    # examples/reference, no --reflect: IPv4 fragments (docs/semantics.md §4.i). prod/web-a (node-a) and
    # prod/web-b (node-b) leave through 198.18.0.253 on node-c, so their fragments cross the tunnel.
    egress = '198.18.0.253'
    s = Seq()
    # 1-3: web-a's 3000-byte datagram as its kernel fragments it at the pod MTU (1450): 1424 + 1424 + 132 bytes.
    for f in fragment(IP(src=WEB_A, dst=SHOWIP, id=301) / UDP(sport=40200, dport=9) / (b'a' * 2972), fragsize=1424):
        s.add(f)
    # 4-6: web-b's datagram of the same size, fragments in reverse order (the first one last).
    for f in reversed(fragment(IP(src=WEB_B, dst=SHOWIP, id=302) / UDP(sport=40201, dport=9) / (b'b' * 2972), fragsize=1424)):
        s.add(f)
    # 7-9: showip's 4000-byte answer to web-a, fragmented at the segment MTU (1480 + 1480 + 1040 bytes of UDP):
    # node-c un-NATs each fragment and cuts the two 1500-byte ones to the pod MTU for the tunnel.
    for f in fragment(IP(src=SHOWIP, dst=egress, id=303) / UDP(sport=9, dport=40200) / (b'r' * 3992), fragsize=1480):
        s.add(f)
    # 10-12: a teardrop from showip on web-a's connection: the first fragment, one overlapping it, the rest.
    tear = fragment(IP(src=SHOWIP, dst=egress, id=304) / UDP(sport=9, dport=40200) / (b't' * 56), fragsize=32)
    s.add(tear[0])
    s.add(IP(src=SHOWIP, dst=egress, id=304, proto=17, flags='MF', frag=3) / (b'x' * 16))
    s.add(tear[1])
    # 13: a tiny first fragment from web-a (8 bytes of TCP: no flags, RFC 1858); 14: a TCP fragment at offset 1
    # (RFC 3128); 15-17: the last fragment of a datagram of web-a's, an exact copy of it, then its first.
    s.add(IP(src=WEB_A, dst=SHOWIP, id=305, proto=6, flags='MF') / Raw(raw(TCP(sport=41200, dport=80, flags='S'))[:8]))
    s.add(IP(src=WEB_A, dst=SHOWIP, id=305, proto=6, frag=1) / (b'\x02' * 16))
    s.add(fragment(IP(src=WEB_A, dst=SHOWIP, id=306) / UDP(sport=40202, dport=9) / (b'c' * 40), fragsize=24)[1])
    s.add(fragment(IP(src=WEB_A, dst=SHOWIP, id=306) / UDP(sport=40202, dport=9) / (b'c' * 40), fragsize=24)[1])
    s.add(fragment(IP(src=WEB_A, dst=SHOWIP, id=306) / UDP(sport=40202, dport=9) / (b'c' * 40), fragsize=24)[0])
    s.write(os.path.join(out, 'fragments', 'in.pcap'))


def vlan(out):
    # captures/replay/vlan/cluster.yaml: 198.18.10.2 on VLAN 10 (gateway 198.18.10.1) hosted by node-a.
    web_a, web_b, db = '198.19.1.10', '198.19.2.10', '198.19.2.20'
    s = Seq()
    s.add(IP(src=web_a, dst=SHOWIP, id=1) / UDP(sport=40000, dport=9) / b'udp from web-a')
    s.add(IP(src=web_b, dst=SHOWIP, id=2) / UDP(sport=40001, dport=9) / b'udp from web-b')
    s.add(IP(src=web_a, dst=SHOWIP, id=3) / TCP(sport=41000, dport=80, flags='S', seq=1000))
    s.add(IP(src=web_b, dst='198.18.10.1', id=4) / ICMP(type=8, id=0x77, seq=1) / b'ping the VLAN gateway')
    s.add(IP(src=db, dst=SHOWIP, id=5) / UDP(sport=40002, dport=9) / b'udp from db')
    s.write(os.path.join(out, 'vlan', 'in.pcap'))


def dual_stack(out):
    # captures/replay/dual-stack/cluster.yaml: the reference cluster with an IPv6 side (2001:2::/64 on the segment).
    web_a, web_b, web_c, tools = '2001:2:0:101::10', '2001:2:0:102::10', '2001:2:0:103::10', '2001:2:0:102::11'
    show6 = '2001:2::64'
    s = Seq()
    s.add(IP(src=WEB_A, dst=SHOWIP, id=1) / UDP(sport=40000, dport=9) / b'udp4 from web-a')
    s.add(IPv6(src=web_a, dst=show6) / UDP(sport=40000, dport=9) / b'udp6 from web-a')
    s.add(IPv6(src=web_b, dst=show6) / UDP(sport=40001, dport=9) / b'udp6 from web-b')
    s.add(IPv6(src=web_a, dst=show6) / TCP(sport=41000, dport=80, flags='S', seq=1000))
    s.add(IPv6(src=web_b, dst=show6) / ICMPv6EchoRequest(id=0x66, seq=1, data=b'ping6 from web-b'))
    s.add(IPv6(src=web_c, dst=show6) / UDP(sport=40002, dport=9) / b'udp6 from web-c')
    s.add(IPv6(src=tools, dst=show6) / UDP(sport=40003, dport=9) / b'udp6 from tools')
    s.add(IPv6(src=web_a, dst=show6) / IPv6ExtHdrDestOpt() / UDP(sport=40004, dport=9) / b'udp6 behind options')
    s.add(IPv6(src=web_a, dst=show6) / UDP(sport=40000, dport=9) / b'udp6 from web-a again')
    # From outside: to an egress IP without a connection (dropped), from off the segment's IPv6 prefix and from an
    # IPv6 pod CIDR address no Pod has (both undeliverable).
    s.add(IPv6(src=show6, dst='2001:2::fd') / UDP(sport=9, dport=45000) / b'no connection')
    s.add(IPv6(src='2001:2:1::5', dst=web_a) / UDP(sport=9, dport=40000) / b'off the segment')
    s.add(IPv6(src='2001:2:0:101::99', dst=show6) / UDP(sport=40005, dport=9) / b'no such pod')
    s.write(os.path.join(out, 'dual-stack', 'in.pcap'))


def main():
    out = OUT
    if len(sys.argv) == 3 and sys.argv[1] == '--out':
        out = sys.argv[2]
    elif len(sys.argv) != 1:
        sys.exit('usage: replay_inputs.py [--out DIR]')
    for f in (reference, bypass, arp, malformed, failover, icmp, failover_state, vlan, fragments, dual_stack):
        f(out)


if __name__ == '__main__':
    main()
