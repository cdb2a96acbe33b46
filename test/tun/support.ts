/**
 * Helpers for the root-only tun tests: why a suite is skipped, packets built by scapy (independent of our code),
 * a UDP listener inside a namespace, and waiting for packets on a port through its readiness callback.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Burst } from '../../engine/index.js';
import { addonAvailable } from '../../tun/addon.js';
import { netdev } from '../../tun/index.js';
import type { TapPort, TunPort } from '../../tun/index.js';

/** Debian's python with scapy (the `python3` first on PATH lacks it). */
export const PY = '/usr/bin/python3';

/** Why the device tests cannot run here, or null when they can. */
export function skipReason(): string | null {
  if (process.platform !== 'linux') return 'TUN/TAP tests need Linux';
  if (process.getuid?.() !== 0) return 'TUN/TAP tests need root (CAP_NET_ADMIN and network namespaces)';
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun on this machine';
  if (!addonAvailable()) return 'the tun addon is not built (npm run build:tun)';
  if (!existsSync(PY)) return `${PY} (with scapy) is missing`;
  return null;
}

/** Each scapy expression's bytes, as hex (one python start for all of them). */
export function scapyHex(exprs: readonly string[]): string[] {
  const script = [
    'import sys',
    'from scapy.all import Ether, ARP, IP, UDP, Raw',
    ...exprs.map((e) => `sys.stdout.write(bytes(${e}).hex() + "\\n")`),
  ].join('\n');
  return execFileSync(PY, ['-c', script], { encoding: 'utf8' }).trim().split('\n');
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** Copies `bytes` into a fresh slot of `burst` (as an engine stage would leave a packet to send). */
export function pushBytes(burst: Burst, bytes: Uint8Array): void {
  const j = burst.alloc(bytes.length);
  if (j < 0) throw new Error('test burst or slab full');
  burst.slab.u8.set(bytes, burst.off[j]!);
}

export function fromHex(h: string): Uint8Array {
  return new Uint8Array(Buffer.from(h, 'hex'));
}

/** Runs a python snippet in `ns` that sends UDP datagrams (`sends`: [payload, dstIp, dstPort]) from `src`. */
export function udpSend(ns: string, src: [string, number], sends: readonly [string, string, number][]): void {
  const lines = [
    'import socket',
    's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    `s.bind((${JSON.stringify(src[0])}, ${src[1]}))`,
    ...sends.map(([p, ip, port]) => `s.sendto(${JSON.stringify(p)}.encode(), (${JSON.stringify(ip)}, ${port}))`),
  ];
  netdev.netnsExec(ns, PY, ['-c', lines.join('\n')]);
}

export interface Listener {
  /** Resolves with what the listener got: payload (utf8) and sender, or rejects after its timeout. */
  done: Promise<{ data: string; from: [string, number] }>;
}

/**
 * Starts a UDP listener on `ip:port` inside `ns` and resolves once it is bound; `done` resolves with the
 * first datagram (the listener gives up after `timeoutS`).
 */
export async function udpListen(ns: string, ip: string, port: number, timeoutS = 5): Promise<Listener> {
  const code = [
    'import json, socket, sys',
    's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    `s.bind((${JSON.stringify(ip)}, ${port}))`,
    `s.settimeout(${timeoutS})`,
    'print("ready", flush=True)',
    'd, a = s.recvfrom(65535)',
    'print(json.dumps({"data": d.decode(errors="replace"), "from": list(a)}), flush=True)',
  ].join('\n');
  const [file, args] = netdev.netnsCommand(ns, PY, ['-c', code]);
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  let readyResolve!: () => void;
  let readyReject!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => ((readyResolve = res), (readyReject = rej)));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.startsWith('ready\n')) readyResolve();
  });
  const done = new Promise<{ data: string; from: [string, number] }>((res, rej) => {
    child.on('exit', (status) => {
      const line = out.split('\n')[1];
      if (status === 0 && line) res(JSON.parse(line) as { data: string; from: [string, number] });
      else {
        const e = new Error(
          `listener ${ip}:${port} in ${ns} got nothing (status ${status}): ${err.trim().split('\n').pop()}`,
        );
        readyReject(e);
        rej(e);
      }
    });
  });
  done.catch(() => {}); // observed by the caller; avoid an unhandled rejection before it awaits
  await ready;
  return { done };
}

/**
 * Waits (through `port.onReadable`, i.e. libuv readiness) until a received packet satisfies `pred`; returns the
 * bytes of every packet seen up to and including it. Rejects after `ms` listing what arrived.
 */
export function waitForPacket(
  port: TunPort | TapPort,
  burst: Burst,
  pred: (b: Uint8Array) => boolean,
  ms = 3000,
): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    const seen: Uint8Array[] = [];
    const timer = setTimeout(() => {
      port.onReadable(null);
      reject(new Error(`no matching packet within ${ms} ms; saw: ${seen.map(hex).join(', ') || 'nothing'}`));
    }, ms);
    port.onReadable(() => {
      for (;;) {
        const n = port.recv(burst);
        for (let i = 0; i < burst.count; i++) seen.push(burst.bytes(i));
        burst.freeAll();
        if (n === 0) break;
      }
      if (seen.some(pred)) {
        clearTimeout(timer);
        port.onReadable(null);
        resolve(seen);
      }
    });
  });
}
