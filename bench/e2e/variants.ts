/**
 * Engine variants of bench:e2e: agent configurations measured on the UDP rows beside the default one, each a set of
 * agent flags with a label. `--variants "io=uring;workers=2"` is two variants, `--io uring` and `--workers 2`; an
 * item is comma-separated `name=value` or bare `name` (a switch): `batch=32,budget=4`, `conntrack-tcp-liberal`.
 * A variant whose flags `egress agent --help` does not list is skipped with one logged line, so a variant for an
 * option of another branch can stay in the default list and starts measuring once the option is there.
 */

export interface Variant {
  /** The variant's agent flags as one string, e.g. `--io uring`: its label in the outputs. */
  label: string;
  args: string[];
  /** What the default rows run for the same options, e.g. `--io rw` (the ratio's denominator), or `default`. */
  versus: string;
  /** Why it was not measured (absent when it was). */
  skipped?: string;
}

/** The agent's defaults for options a variant may change (cli/commands/agent.ts), for the ratio's labels. */
export const AGENT_DEFAULTS: Record<string, string> = {
  io: 'rw',
  workers: '1',
  batch: '64',
  budget: '16',
  round: '256',
  'queue-len': '4096',
  'tunnel-auth': 'off',
};

/** `--io uring` and `--workers 2` (the latter measured once the agent has `--workers`). */
export const DEFAULT_VARIANTS = 'io=uring;workers=2';

/**
 * Variants of a `--variants` value (`none` or empty: no variant), against the default run's agent flags
 * `base`. Returns an error message for a malformed item.
 */
export function parseVariants(spec: string, base: string[] = []): Variant[] | string {
  if (spec.trim() === '' || spec.trim() === 'none') return [];
  const out: Variant[] = [];
  for (const item of spec.split(';').map((s) => s.trim())) {
    if (!item) continue;
    const args: string[] = [];
    const versus: string[] = [];
    for (const kv of item.split(',').map((s) => s.trim())) {
      const m = /^([a-z][a-z0-9-]*)(?:=(\S+))?$/.exec(kv);
      if (!m) return `bad variant item "${kv}" (name=value or name, e.g. io=uring)`;
      const [, name, value] = m as unknown as [string, string, string | undefined];
      args.push(`--${name}`, ...(value === undefined ? [] : [value]));
      const given = base.indexOf(`--${name}`);
      if (value === undefined) versus.push(given >= 0 ? `--${name}` : `no --${name}`);
      else {
        const was = given >= 0 ? base[given + 1] : AGENT_DEFAULTS[name];
        versus.push(was === undefined ? `default --${name}` : `--${name} ${was}`);
      }
    }
    out.push({ label: args.join(' '), args, versus: versus.join(' ') });
  }
  return out;
}

/** The `--flags` of `args` that an agent's `--help` text does not list. */
export function unsupported(help: string, args: string[]): string[] {
  const listed = new Set(help.match(/--[a-z][a-z0-9-]*/g) ?? []);
  return args.filter((a) => a.startsWith('--') && !listed.has(a));
}
