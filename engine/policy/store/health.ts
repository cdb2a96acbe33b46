/**
 * What a long-running reader of the store (an agent) knows about the store files it could not use: a counter per
 * kind of file, the problems standing now, and the last good content of each Node status file.
 *
 * A problem is reported (the `onProblem` callback: the agent logs it) and counted once when it appears — not on
 * every read of the same bad file; it is reported again only after the file was good in between or when the
 * problem changes. The agent exports the counters in its run file and as Prometheus metrics.
 */
import type { NodeStatusFile } from '../status.js';

/** Which store file: objects.json, a status file, an events line, or a write the agent could not make. */
export const STORE_FILE_KINDS = ['objects', 'status', 'events', 'write'] as const;
export type StoreFileKind = (typeof STORE_FILE_KINDS)[number];

export interface StoreProblem {
  readonly kind: StoreFileKind;
  readonly file: string;
  readonly message: string;
}

export interface StoreHealthSnapshot {
  /** Problems reported so far, per kind of file. */
  readonly problems: Readonly<Record<StoreFileKind, number>>;
  /** Problems standing now (file → message). */
  readonly current: Readonly<Record<string, string>>;
}

export class StoreHealth {
  private readonly counts: Record<StoreFileKind, number> = { objects: 0, status: 0, events: 0, write: 0 };
  private readonly standing = new Map<string, string>();
  /** Status files by file name: the signature last read and what it gave (null: unusable). */
  readonly statusCache = new Map<string, { sig: string; file: NodeStatusFile | null }>();
  /** Last good content of each status file, used while the file is unusable. */
  readonly lastGoodStatus = new Map<string, NodeStatusFile>();

  constructor(private readonly onProblem: (p: StoreProblem) => void = () => {}) {}

  /** A problem with `file`: reported and counted unless it is the one already standing for that file. */
  problem(kind: StoreFileKind, file: string, message: string): void {
    if (this.standing.get(file) === message) return;
    this.standing.set(file, message);
    this.counts[kind]++;
    this.onProblem({ kind, file, message });
  }

  /** `file` is fine again. */
  resolved(file: string): void {
    this.standing.delete(file);
  }

  snapshot(): StoreHealthSnapshot {
    return { problems: { ...this.counts }, current: Object.fromEntries(this.standing) };
  }
}
