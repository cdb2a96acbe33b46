/**
 * Antrea's consistent hash ring (`pkg/agent/consistenthash`, `pkg/agent/memberlist/cluster.go`), bit-exact.
 *
 * - Each member Node gets 50 virtual replicas; replica i of Node n hashes to CRC32-IEEE(decimal(i) + n).
 * - A key (the Egress IP exactly as written in `spec.egressIP`) hashes to CRC32-IEEE(key).
 * - Lookup walks the replicas with hash >= key in ascending order, then wraps to the smallest; it returns the first
 *   Node that passes the filter. A Node that fails is marked visited and skipped; when every Node has failed the
 *   result is "" (Antrea's `ErrNoNodeAvailable`, "no Node available").
 *
 * Replicas are ordered by hash only (Antrea keeps them in a B-tree keyed by hash), so two replicas with the same
 * hash collapse into one: Antrea keeps the one inserted last, which depends on its lister's order. We insert Nodes in
 * ascending name order, so on a collision the greater name wins. Collisions among 50 × N 32-bit hashes are rare
 * (about N²·1250/2³² — one in 34,000 rings of 10 Nodes) and the rule only has to be deterministic.
 */
import { crc32String } from './crc32.js';

/** Virtual replicas per Node (`defaultVirtualNodeReplicas`). */
export const REPLICAS = 50;

export class HashRing {
  /** Member Node names, ascending. */
  readonly nodes: readonly string[];
  /** Replica hashes, ascending, unique. */
  readonly hashes: Uint32Array;
  /** Owner of each replica: index into `nodes`. */
  readonly owners: Int32Array;

  constructor(members: Iterable<string>, replicas: number = REPLICAS) {
    this.nodes = [...new Set(members)].sort(byString);
    const owner = new Map<number, number>();
    this.nodes.forEach((name, idx) => {
      for (let i = 0; i < replicas; i++) owner.set(crc32String(String(i) + name), idx);
    });
    const hashes = [...owner.keys()].sort((a, b) => a - b);
    this.hashes = Uint32Array.from(hashes);
    this.owners = Int32Array.from(hashes.map((h) => owner.get(h)!));
  }

  get size(): number {
    return this.nodes.length;
  }

  /** The Node for `key`, skipping Nodes the filter rejects; "" when the ring is empty or every Node is rejected. */
  get(key: string, filter?: (node: string) => boolean): string {
    const n = this.hashes.length;
    if (n === 0) return '';
    const h = crc32String(key);
    // First replica with hash >= h.
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.hashes[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    const visited = new Uint8Array(this.nodes.length);
    let nVisited = 0;
    for (let k = 0; k < n; k++) {
      const owner = this.owners[(lo + k) % n]!;
      if (visited[owner]) continue;
      if (nVisited === this.nodes.length) break;
      const name = this.nodes[owner]!;
      if (filter && !filter(name)) {
        visited[owner] = 1;
        nVisited++;
        continue;
      }
      return name;
    }
    return '';
  }
}

function byString(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
