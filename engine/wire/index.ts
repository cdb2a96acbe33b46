/**
 * engine/wire: pure functions over `(view: DataView, off: number)` for each protocol the engine parses or
 * writes, plus value forms (`Repr`, parse/emit) for cold paths. Contract (smoltcp `wire`): once a protocol's
 * `check()` returned OK for a range, its accessors read only inside that range; `check()` never throws.
 * Imports nothing of ours.
 */
export * as checksum from './checksum.js';
export * as ipv4 from './ipv4.js';
export * as verdict from './verdict.js';
