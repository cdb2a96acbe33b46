/**
 * engine/graph: the contracts between the parts of the datapath. A Port moves bursts in and out of the
 * engine; a Stage writes a verdict (an exit) per packet; the Pipeline, built from a spec that is data, moves
 * packets between stages in bulk and sends each output port's packets once per round. Counters are named per
 * owner. Imports only engine/packet.
 */
export type { Port } from './port.js';
export type { Stage } from './stage.js';
export { exitIndex } from './stage.js';
export { Counters, counterIndex, nameIndex, type NameIndex } from './counters.js';
export {
  Pipeline,
  PipelineError,
  PortGroup,
  type DropTracer,
  type InputHandle,
  type PipelineSpec,
} from './pipeline.js';
