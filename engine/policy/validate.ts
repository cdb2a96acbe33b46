/**
 * Validation: documents → typed objects (the CRD schemas and the API server's object rules), Antrea's validating
 * webhooks (`pkg/controller/egress/validate.go`, `pkg/controller/externalippool/validate.go`,
 * `pkg/controller/validation/ippool.go`) with their wording, and the cross-object rules this engine needs (a Pod's
 * Node and Namespace exist, addresses are unique and on the segment...).
 *
 * A set of documents is validated as a whole against the state it would produce; state.ts applies it only when no
 * error was found. The parts live in validate/: meta.ts (ObjectMeta, LabelSelector), one file per kind (egress.ts,
 * external-ip-pool.ts, node.ts, namespace.ts, pod.ts, agent-config.ts, external-host.ts), decode.ts (one document →
 * one object), webhooks.ts (Antrea's webhooks) and cross-check.ts (the cross-object rules, one function per rule).
 */
export { decodeDoc } from './validate/decode.js';
export type { Decoded } from './validate/decode.js';
export { egressWebhook, normalizedRanges, poolWebhook } from './validate/webhooks.js';
export type { NormalizedRange } from './validate/webhooks.js';
export { crossCheck } from './validate/cross-check.js';
export type { CtxFor } from './validate/cross-check.js';
