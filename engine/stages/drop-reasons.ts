/**
 * Drop reasons from `check()` verdicts (engine/wire/verdict.ts): one table per stage and check, built once at
 * load time from the stage's counter names, so the hot path counts a failed check with `c[REASON[r]!]!++`
 * (one load, no branch per verdict) and the mapping is written once, as data, next to the counter list.
 */
import { verdict } from '../wire/index.js';

/**
 * Verdict code → counter index. `reasons` names the counter of each verdict that has its own; every other
 * non-OK verdict counts as `otherwise`. Negative verdicts (Geneve's `-code`) are looked up as `REASON[-g]`.
 */
export function verdictReasons<const N extends string>(
  C: { readonly [K in N]: number },
  reasons: { readonly [code: number]: NoInfer<N> },
  otherwise: NoInfer<N>,
): Uint8Array {
  const t = new Uint8Array(verdict.VERDICT_NAMES.length).fill(C[otherwise]);
  for (const [code, name] of Object.entries(reasons)) {
    const k = Number(code);
    if (!(k > 0 && k < t.length)) throw new RangeError(`drop reasons: no verdict ${code}`);
    t[k] = C[name as N];
  }
  return t;
}
