#!/usr/bin/python3
"""Soak traffic (bench/soak.ts): from inside a pod's namespace, UDP flows SRC -> DST with COUNT distinct
(source port, destination port) pairs, every flow sent once per round of PERIOD seconds until DURATION has
passed. One flow = one connection in the agents' tables; UDP flows left unreplied expire after 30 s, so a round
every 10 s keeps them all alive. Raw IPv4 (IP_HDRINCL) with the UDP checksum 0: no socket per port.
usage: flows.py SRC DST COUNT DURATION [PERIOD]"""
import socket
import struct
import sys
import time

src, dst, count, duration = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
period = float(sys.argv[5]) if len(sys.argv) > 5 else 10.0
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
sa, da = socket.inet_aton(src), socket.inet_aton(dst)
payload = b'egress-engine soak'


def csum(b):
    n = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while n >> 16:
        n = (n & 0xFFFF) + (n >> 16)
    return ~n & 0xFFFF


def packet(sport, dport):
    udp = struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, sa, da)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return ip + udp


flows = [(1024 + i % 60000, 9000 + i // 60000) for i in range(count)]
end = time.monotonic() + duration
sent = errors = rounds = 0
while time.monotonic() < end:
    start = time.monotonic()
    for i, (sp, dp) in enumerate(flows):
        try:
            s.sendto(packet(sp, dp), (dst, 0))
            sent += 1
        except OSError:
            errors += 1
            time.sleep(0.005)
        if i % 256 == 255:
            time.sleep(0.004)
        if time.monotonic() >= end:
            break
    rounds += 1
    left = period - (time.monotonic() - start)
    if left > 0:
        time.sleep(min(left, max(0.0, end - time.monotonic())))
print('flows: sent %d packets in %d rounds, %d send errors' % (sent, rounds, errors), flush=True)
