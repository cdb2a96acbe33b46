/** A minimal in-memory Port for tests: `queue` holds frames to receive, `sent` collects transmitted copies. */
import type { Burst, Port } from '../../engine/index.js';

export class ListPort implements Port {
  readonly queue: Uint8Array[] = [];
  readonly sent: Uint8Array[] = [];
  sendCalls = 0;
  closed = false;
  constructor(
    readonly name: string,
    readonly batchSize = 64,
  ) {}

  recv(b: Burst): number {
    let got = 0;
    while (this.queue.length > 0 && got < this.batchSize && b.room > 0) {
      const bytes = this.queue.shift()!;
      const j = b.alloc(bytes.length);
      if (j < 0) break;
      b.slab.u8.set(bytes, b.off[j]!);
      got++;
    }
    return got;
  }

  send(b: Burst): void {
    this.sendCalls++;
    for (let i = 0; i < b.count; i++) this.sent.push(b.bytes(i));
  }

  close(): void {
    this.closed = true;
  }
}
