/**
 * `-o FORMAT` of the commands that print objects (kubectl's printers): the table (default), `wide`, `json`, `yaml`,
 * `name`, `jsonpath=TEMPLATE` (also `jsonpath-as-json=`), `custom-columns=HEADER:PATH,...`. A command that cannot
 * print a format refuses it with one line (never a silent table).
 */
import { UsageError } from './errors.js';
import { executeTemplate, formatValue, select } from './jsonpath.js';
import { table, toJSON, toYAML } from './output.js';

export type OutputFormat =
  | { readonly kind: 'table' | 'wide' | 'json' | 'yaml' | 'name' }
  | { readonly kind: 'jsonpath'; readonly template: string; readonly asJSON: boolean }
  | { readonly kind: 'custom-columns'; readonly columns: readonly { header: string; path: string }[] };

export type FormatKind = OutputFormat['kind'];

export const ALL_FORMATS = 'wide, json, yaml, name, jsonpath=TEMPLATE, custom-columns=HEADER:PATH,...';

/** Parse `-o`; an unknown format is a UsageError (one line). */
export function parseOutput(s: string | undefined): OutputFormat {
  if (s === undefined || s === '') return { kind: 'table' };
  if (s === 'wide' || s === 'json' || s === 'yaml' || s === 'name') return { kind: s };
  const m = /^(jsonpath|jsonpath-as-json|custom-columns)=(.*)$/s.exec(s);
  if (!m) throw new UsageError(`unknown output format "${s}" (${ALL_FORMATS})`);
  const arg = m[2]!;
  if (m[1] === 'custom-columns') {
    const columns = arg.split(',').map((c) => {
      const i = c.indexOf(':');
      if (i <= 0 || i === c.length - 1)
        throw new UsageError(`custom-columns: "${c}" is not HEADER:PATH (e.g. NAME:.metadata.name)`);
      const path = c.slice(i + 1);
      select({}, path); // a malformed path fails now, not per row
      return { header: c.slice(0, i), path };
    });
    return { kind: 'custom-columns', columns };
  }
  if (arg === '') throw new UsageError(`${m[1]}= needs a template, e.g. ${m[1]}='{.items[*].metadata.name}'`);
  executeTemplate(arg, {}); // parse errors now
  return { kind: 'jsonpath', template: arg, asJSON: m[1] === 'jsonpath-as-json' };
}

/** Refuse a format this command does not print (one line). */
export function refuseFormat(f: OutputFormat, what: string, allowed: readonly FormatKind[]): void {
  if (!allowed.includes(f.kind))
    throw new UsageError(
      `-o ${f.kind} is not available for ${what} (use ${allowed.filter((k) => k !== 'table').join(', ') || 'no -o'})`,
    );
}

/** The rows of custom-columns for `items`: each path's values joined by ",", `<none>` when it selects nothing. */
export function customColumns(
  cols: readonly { header: string; path: string }[],
  items: readonly unknown[],
  noHeaders: boolean,
): string {
  const rows = items.map((x) =>
    cols.map((c) => {
      const vs = select(x, c.path);
      return vs.length === 0 ? '<none>' : vs.map(formatValue).join(',');
    }),
  );
  return noHeaders
    ? table(rows[0]?.map(() => '') ?? [], rows)
        .split('\n')
        .slice(1)
        .join('\n')
    : table(
        cols.map((c) => c.header),
        rows,
      );
}

/**
 * Print `value` (an object, or a List of `items`) in a data format: json, yaml, jsonpath, custom-columns. Returns
 * false for the table formats and name, which the caller prints.
 */
export function printData(f: OutputFormat, value: unknown, items: readonly unknown[], noHeaders = false): boolean {
  switch (f.kind) {
    case 'json':
      console.log(toJSON(value));
      return true;
    case 'yaml':
      console.log(toYAML(value).replace(/\n$/, ''));
      return true;
    case 'jsonpath':
      if (f.asJSON) console.log(toJSON(select(value, f.template)));
      else console.log(executeTemplate(f.template, value));
      return true;
    case 'custom-columns':
      if (items.length > 0 || !noHeaders) console.log(customColumns(f.columns, items, noHeaders));
      return true;
    default:
      return false;
  }
}
