/**
 * engine/graph: the contracts between the parts of the datapath. A Port moves bursts in and out of the
 * engine; a Stage writes a verdict (an exit) per packet; the pipeline moves packets between stages in bulk.
 * Counters are named per owner. Imports only engine/packet.
 */
export type { Port } from './port.js';
export { Counters, counterIndex } from './counters.js';
