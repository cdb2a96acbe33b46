/**
 * Fault containment for the agent's callbacks (docs/agent.md "Faults"): every timer, watcher and readiness
 * callback runs through `guard`, so an exception in one is caught, counted by where it happened
 * (`egress_agent_faults_total{where=…}`), logged once per kind (where + message; later ones only counted), and
 * the agent keeps running: the next timer round, the next readable event, the next store change run as usual.
 */

export type FaultLog = (where: string, error: Error, fields: { count: number }) => void;

export class Faults {
  private readonly counts = new Map<string, number>();
  private readonly logged = new Set<string>();

  constructor(private readonly log: FaultLog = () => {}) {}

  /** Run `fn`; an exception is counted under `where`, logged once per kind, and swallowed. */
  run(where: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.fault(where, e);
    }
  }

  /** `fn` wrapped with `run` (for setInterval, watchers, onReadable). */
  guard<A extends unknown[]>(where: string, fn: (...a: A) => void): (...a: A) => void {
    return (...a: A) => {
      try {
        fn(...a);
      } catch (e) {
        this.fault(where, e);
      }
    };
  }

  /** Count a fault caught elsewhere. */
  fault(where: string, e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    const count = (this.counts.get(where) ?? 0) + 1;
    this.counts.set(where, count);
    const kind = `${where}\n${err.message}`;
    if (this.logged.has(kind)) return;
    if (this.logged.size < 1000) this.logged.add(kind);
    try {
      this.log(where, err, { count });
    } catch {
      /* a failing logger must not undo the containment */
    }
  }

  /** Faults so far, per place (sorted by place). */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
  }

  get total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }
}
