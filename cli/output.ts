/** Output helpers shared by the store commands: kubectl-like tables, ages, YAML and JSON. */
import { stringify } from 'yaml';

/**
 * A kubectl table (`text/tabwriter` with minwidth 6, padding 3): every column but the last is padded to its widest
 * cell + 3 (at least 6); trailing spaces are trimmed.
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(6, ...all.map((r) => (r[i] ?? '').length + 3)));
  return all
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * kubectl's AGE (`k8s.io/apimachinery/pkg/util/duration.HumanDuration`): "45s", "119s", "3m", "5m30s", "3h",
 * "2d", "2d3h", "400d", "2y30d"...
 */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.floor(hours / 24) % 365;
    return dy === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${dy}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

/** AGE of an RFC 3339 timestamp at `now`. */
export function age(timestamp: string, now: Date): string {
  const t = Date.parse(timestamp);
  return Number.isNaN(t) ? '<unknown>' : humanDuration(now.getTime() - t);
}

export function toYAML(v: unknown): string {
  return stringify(v, { lineWidth: 0 });
}

/** kubectl's JSON: 4-space indentation. */
export function toJSON(v: unknown): string {
  return JSON.stringify(v, null, 4);
}

/** A list in kubectl's `-o yaml|json` form. */
export function listOf(items: readonly unknown[]): unknown {
  return { apiVersion: 'v1', items, kind: 'List', metadata: { resourceVersion: '' } };
}
