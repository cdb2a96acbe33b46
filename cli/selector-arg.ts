/**
 * `-l/--selector`: a Kubernetes label selector in kubectl's text form (`k8s.io/apimachinery/pkg/labels.Parse`):
 * requirements separated by commas, all of which must hold: `key=value`, `key==value`, `key!=value`,
 * `key in (a,b)`, `key notin (a,b)`, `key` (exists), `!key` (does not exist).
 */
import * as policy from '../engine/policy/index.js';
import { UsageError } from './errors.js';

const KEY = String.raw`[A-Za-z0-9][-A-Za-z0-9_./]*`;
const VALUE = String.raw`[-A-Za-z0-9_.]*`;

/** The selector `-l TEXT` means, as a LabelSelector (a UsageError, one line, when it is not valid). */
export function parseSelectorArg(text: string): policy.LabelSelector {
  const reqs: { key: string; operator: policy.Operator; values?: string[] }[] = [];
  const parts = text.match(/[^,(]+(\([^)]*\))?[^,]*/g) ?? [];
  for (const raw of parts) {
    const p = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^(${KEY})\\s*(==|=|!=)\\s*(${VALUE})$`).exec(p)))
      reqs.push({ key: m[1]!, operator: m[2] === '!=' ? 'NotIn' : 'In', values: [m[3]!] });
    else if ((m = new RegExp(`^(${KEY})\\s+(in|notin)\\s*\\(([^)]*)\\)$`).exec(p))) {
      const values = m[3]!.split(',').map((v) => v.trim());
      if (values.some((v) => !new RegExp(`^${VALUE}$`).test(v))) throw badSelector(text, p);
      reqs.push({ key: m[1]!, operator: m[2] === 'in' ? 'In' : 'NotIn', values });
    } else if ((m = new RegExp(`^(!?)\\s*(${KEY})$`).exec(p)))
      reqs.push({ key: m[2]!, operator: m[1] ? 'DoesNotExist' : 'Exists' });
    else throw badSelector(text, p);
  }
  if (reqs.length === 0) throw badSelector(text, text);
  return { matchExpressions: reqs };
}

function badSelector(text: string, part: string): UsageError {
  return new UsageError(
    `-l ${JSON.stringify(text)}: cannot read "${part}" (key=value, key!=value, key in (a,b), key notin (a,b), key, !key)`,
  );
}
