/**
 * engine/policy: the Egress control plane (docs/semantics.md §1–2) — manifests, validation, selectors, allocation,
 * the CRC32 hash ring, scheduling, status and events, the compiled datapath view, and the embedded store.
 * Imports nothing of the datapath (docs/architecture.md §2).
 */
export * from './model.js';
export * from './problems.js';
export * from './ip.js';
export * from './crc32.js';
export * from './hashring.js';
export * from './selector.js';
export * from './quantity.js';
export * from './manifest.js';
export * from './config.js';
export * from './allocator.js';
export * from './validate.js';
export * from './controller.js';
export * from './scheduler.js';
export * from './standby.js';
export * from './effective.js';
export * from './status.js';
export * from './view.js';
export * from './node-sync.js';
export * from './cluster-sim.js';
export * from './state.js';
export * as store from './store/store.js';
