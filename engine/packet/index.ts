/**
 * engine/packet: packet memory. One slab of fixed slots with headroom, and the Burst that carries packet
 * references between ports and stages. Imports nothing of ours.
 */
export { Slab, DEFAULT_SLOT_SIZE, DEFAULT_HEADROOM, type SlabOptions } from './slab.js';
export { Burst, DEFAULT_BURST } from './burst.js';
