/**
 * Record the test bed's L2 segment into a pcap with libpcap (the `cap` binding), from inside the fabric
 * namespace: `egress testbed capture` re-runs itself there (`ip netns exec egr-fab …`) because libpcap opens
 * devices of its own namespace. Stops after `count` frames, `durationS` seconds, or on SIGINT/SIGTERM.
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { io } from '../../engine/index.js';
import { BRIDGE } from './testbed.js';

interface CapInstance {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  close(): void;
  on(ev: 'packet', cb: (nbytes: number, trunc: boolean) => void): void;
}

export class CaptureError extends Error {
  override readonly name = 'CaptureError';
}

function loadCap(): { Cap: new () => CapInstance } {
  try {
    return createRequire(import.meta.url)('cap') as { Cap: new () => CapInstance };
  } catch {
    throw new CaptureError(
      'capturing needs the optional `cap` package: install libpcap-dev, then run `npm install` again',
    );
  }
}

export interface CaptureOptions {
  out: string;
  filter?: string;
  count?: number;
  durationS?: number;
  device?: string;
  /** Called once the capture runs (tests wait for it before sending). */
  onReady?: () => void;
}

/** Capture in this process's namespace; resolves with the number of frames written. */
export function captureHere(o: CaptureOptions): Promise<number> {
  const { Cap } = loadCap();
  const c = new Cap();
  const buf = Buffer.alloc(65535);
  let link: string;
  try {
    link = c.open(o.device ?? BRIDGE, o.filter ?? '', 10 * 1024 * 1024, buf);
  } catch (e) {
    throw new CaptureError(`cannot capture on ${o.device ?? BRIDGE}: ${(e as Error).message}`);
  }
  if (link !== 'ETHERNET') {
    c.close();
    throw new CaptureError(`unexpected link type ${link} on ${o.device ?? BRIDGE}`);
  }
  const w = new io.PcapWriter(o.out, { linkType: io.LINKTYPE_ETHERNET, nanos: false });
  let n = 0;
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | null = null;
    const stop = () => {
      if (timer) clearTimeout(timer);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      c.close();
      w.close();
      resolve(n);
    };
    c.on('packet', (nbytes) => {
      const t = performance.timeOrigin + performance.now(); // ms with µs resolution
      const sec = Math.floor(t / 1000);
      w.writeChunk(buf, 0, nbytes, sec, Math.floor((t - sec * 1000) * 1e6), nbytes);
      n++;
      if (o.count !== undefined && n >= o.count) stop();
    });
    if (o.durationS !== undefined) timer = setTimeout(stop, o.durationS * 1000);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    o.onReady?.();
  });
}
