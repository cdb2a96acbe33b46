/**
 * The agent's log lines: one JSON object per line on stderr, in pino's shape so that pino-pretty, jq and lnav
 * read them as they are: `level` as pino's number (debug 20, info 30, warn 40, error 50), `time` in milliseconds
 * since the epoch, `pid`, `hostname`, then `node`, `msg` and the line's own fields. `--log-level` filters by name.
 */
import { hostname } from 'node:os';

export const LOG_LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;
export type LogLevel = keyof typeof LOG_LEVELS;

const HOST = hostname();

/** The text of one log line (with its newline). Fields never replace the fixed ones. */
export function logLine(level: LogLevel, node: string, msg: string, fields: Record<string, unknown> = {}): string {
  return (
    JSON.stringify({
      ...fields,
      level: LOG_LEVELS[level],
      time: Date.now(),
      pid: process.pid,
      hostname: HOST,
      node,
      msg,
    }) + '\n'
  );
}
