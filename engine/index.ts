/**
 * The engine's public index: what tun/ and cli/ may use (docs/architecture.md §2). Layers are re-exported as
 * namespaces so call sites read `wire.ipv4.src(v, o)`.
 */
export * as wire from './wire/index.js';
export * from './packet/index.js';
export * from './graph/index.js';
export * as policy from './policy/index.js';
export * as io from './io/index.js';
export * as conntrack from '../conntrack/index.js';
export * as cluster from './cluster/index.js';
