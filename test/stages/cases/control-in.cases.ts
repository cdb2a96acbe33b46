/** control-in rows (engine/stages/control-in.ts; docs/semantics.md §2.4): heartbeats to the node's control port. */
import { ControlIn } from '../../../engine/stages/index.js';
import { CONTROL_PORT, eth, PEER_MAC, type CaseTable } from './harness.js';

const HB = eth(
  `IP(src='198.18.0.12', dst='198.18.0.11')/UDP(sport=${CONTROL_PORT}, dport=${CONTROL_PORT})/b'hb'`,
  PEER_MAC,
);

export const cases: CaseTable = {
  stage: (st) => new ControlIn(st),
  l3: 14,
  rows: [
    {
      name: 'a heartbeat with a handler: delivered',
      state: { controlPort: CONTROL_PORT },
      setup: (st) => (st.onControl = () => {}),
      input: [HB],
      counters: { delivered: 1 },
    },
    { name: 'no handler yet: no-handler, freed', input: [HB], counters: { 'no-handler': 1 } },
  ],
};
