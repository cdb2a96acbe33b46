/**
 * The numbers every file of the connection table shares: the record layout (one 64-byte cache line per
 * connection), the meta word's flag bits, the counter indices and the result codes. Offsets and indices are
 * derived from ordered lists of names at module load, so a field or a counter is added by naming it once; the
 * derived values are module constants. The files that use them copy them into module-local `const`s
 * (`const STRIDE = record.STRIDE`): V8 folds those into the code, while each use of an imported binding is a
 * load through the module's cell — measured 1.4x slower on established TCP packets before the copies.
 *
 * Record (`STRIDE` int32 words, seen as Int32/Uint32/Float64 arrays over one ArrayBuffer), in `RECORD_FIELDS`
 * order: orig src, orig dst, orig sport<<16|dport, reply src, reply dst, reply sport<<16|dport (words 0-5), meta
 * (proto | TCP state << 8 | flags), mark (opaque 32-bit tag), expiry (absolute ms, float64), bytes per direction
 * (2 × float64), packets per direction (2 × uint32). Everything a packet touches after its lookup is on that
 * line (Linux `struct nf_conn` does the same), so lookup + update + translation cost two cache misses: the slot
 * line and the record line.
 */

/** Record fields in order, with their width in int32 words; a field of 2 or more words is float64-aligned. */
const RECORD_FIELDS = [
  ['osrc', 1],
  ['odst', 1],
  ['oports', 1],
  ['rsrc', 1],
  ['rdst', 1],
  ['rports', 1],
  ['meta', 1],
  ['mark', 1],
  ['expiry', 2], // float64
  ['bytes', 4], // float64 per direction
  ['pkts', 2], // uint32 per direction
] as const;
type RecordField = (typeof RECORD_FIELDS)[number][0];

/** Word offset of each field, and the words per record (`$size`). Throws at load when the layout is not one line. */
function layout(): Record<RecordField | '$size', number> {
  const out = {} as Record<RecordField | '$size', number>;
  let w = 0;
  for (const [name, words] of RECORD_FIELDS) {
    if (words >= 2 && (w & 1) !== 0) w++;
    out[name] = w;
    w += words;
  }
  if (w !== 16) throw new Error(`conntrack: record layout is ${w} words, not one 64-byte line`);
  out.$size = w;
  return out;
}
const W = layout();

/** int32 words per record (64 bytes). */
export const STRIDE = W.$size;
/** float64 words per record. */
export const FSTRIDE = STRIDE >> 1;
export const R_OSRC = W.osrc;
export const R_ODST = W.odst;
export const R_OPORTS = W.oports;
export const R_RSRC = W.rsrc;
export const R_RDST = W.rdst;
export const R_RPORTS = W.rports;
export const R_META = W.meta;
export const R_MARK = W.mark;
/** Packets, + dir (uint32 view). */
export const R_PKTS = W.pkts;
/** Expiry, float64 index within the record. */
export const F_EXPIRY = W.expiry >> 1;
/** Bytes, + dir, float64 index within the record. */
export const F_BYTES = W.bytes >> 1;
/** Words from a tuple to the same field of the other direction's tuple (`dir * TUPLE`). */
export const TUPLE = R_RSRC - R_OSRC;

// ---- meta word: proto in bits 0-7, TCP state in bits 8-11, then the flags of META_FLAGS, then the last segment
/** Flag bits of the meta word above the TCP state, in bit order (each named after Linux's where there is one). */
const META_FLAGS = [
  'alloc', // record in use
  'confirmed', // first packet emitted (Linux IPS_CONFIRMED)
  'seen-reply', // a reply-direction packet was accepted (IPS_SEEN_REPLY)
  'assured', // never early-dropped (IPS_ASSURED)
  'snat', // reply tuple differs from the inverted original: packets are translated (IPS_SRC_NAT)
  'nat-done', // a binding was chosen (IPS_SRC_NAT_DONE)
  'reply-in', // the reply entry is in the slot array
  'dying', // out of the slot array; record released at the next expire() (IPS_DYING)
  'bysrc', // linked in the by-source index
  'close-init', // a FIN started the close (IP_CT_TCP_FLAG_CLOSE_INIT, either direction)
  'simopen', // simultaneous open (IP_CT_TCP_SIMULTANEOUS_OPEN)
  'last-dir', // direction of the last TCP segment (ct->proto.tcp.last_dir)
] as const;
const STATE_SHIFT = 8;
const FLAGS_SHIFT = 12;
const flag = (name: (typeof META_FLAGS)[number]): number => 1 << (FLAGS_SHIFT + META_FLAGS.indexOf(name));

export const M_PROTO = 0xff;
export const M_STATE_SHIFT = STATE_SHIFT;
export const M_STATE = 0xf << STATE_SHIFT;
export const F_ALLOC = flag('alloc');
export const F_CONFIRMED = flag('confirmed');
export const F_SEEN_REPLY = flag('seen-reply');
export const F_ASSURED = flag('assured');
export const F_SNAT = flag('snat');
export const F_NAT_DONE = flag('nat-done');
export const F_REPLY_IN = flag('reply-in');
export const F_DYING = flag('dying');
export const F_BYSRC = flag('bysrc');
export const F_CLOSE_INIT = flag('close-init');
export const F_SIMOPEN = flag('simopen');
export const F_LAST_DIR = flag('last-dir');
/** Bit of F_LAST_DIR: `dir << M_LAST_DIR_SHIFT` sets it. */
export const M_LAST_DIR_SHIFT = FLAGS_SHIFT + META_FLAGS.indexOf('last-dir');
/** Flag class of the last TCP segment, 3 bits above the flags (ct->proto.tcp.last_index). */
export const M_LAST_SHIFT = M_LAST_DIR_SHIFT + 1;
export const M_LAST = 7 << M_LAST_SHIFT;

// ---- results ----------------------------------------------------------------------------------------------
/** `create` refused: the table is full and nothing in the early-drop window could be evicted. */
export const CT_FULL = -1;
/** `create` refused: the tuple is already in the table (an earlier packet of the burst created it): `lookup`. */
export const CT_EXISTS = -2;
/** `create` refused: this packet cannot open a connection (TCP without SYN or ACK, ICMP other than echo request). */
export const CT_INVALID = -3;
/** `create` refused: the per-host limit (`perHostLimit`) is reached for this connection's source (or destination). */
export const CT_LIMIT = -4;

/** `update`: packet accepted, state advanced and timeout refreshed. */
export const UPDATE_ACCEPT = 0;
/** `update`: packet passes but leaves the state alone (Linux `sIG`: may be valid, we may be out of sync). */
export const UPDATE_IGNORE = 1;
/** `update`: packet is invalid for the state (Linux `sIV`); nothing changed. The datapath counts and drops it. */
export const UPDATE_INVALID = 2;
/** `update`: the connection is gone (timed out, killed, TCP reopen from TIME_WAIT/CLOSE): handle as a new one. */
export const UPDATE_RECREATE = 3;

/** `snat`: bound; read `natPort(conn)` for the port chosen. */
export const SNAT_OK = 0;
/** `snat`: no free reply tuple for (egress IP, destination, destination port, protocol). Drop and `abort`. */
export const SNAT_EXHAUSTED = 1;
/** `snat`: the connection is not a live unconfirmed one without a binding. */
export const SNAT_INVALID = 2;
/** `snat` mode flag: choose a random port for every connection (iptables `--random-fully`, Antrea `snatFullyRandomPorts`). */
export const SNAT_RANDOM_FULLY = 1;

// ---- counters ---------------------------------------------------------------------------------------------
/** Counter names, in index order (`counters[i]`). */
export const CT_COUNTER_NAMES = [
  'created',
  'confirmed',
  'aborted',
  'refused-full',
  'create-exists',
  'create-invalid',
  'early-drop',
  'expired',
  'killed',
  'recreate',
  'confirm-clash',
  'update-ignored',
  'update-invalid',
  'tcp-reopen',
  'snat-port-preserved',
  'snat-port-remapped',
  'snat-source-mapped',
  'snat-exhausted',
  'snat-invalid',
  'snat-probes',
  'related-hit',
  'related-miss',
  'refused-per-host',
  'tcp-invalid-flags',
  'tcp-out-of-window',
  'tcp-window-liberal',
  'tcp-rst-invalid',
  'tcp-rst-in-window',
  'tcp-resync',
] as const;
export type CtCounterName = (typeof CT_COUNTER_NAMES)[number];
/** Index of a counter, from its name (a misspelt name is a type error). */
const k = (name: CtCounterName): number => CT_COUNTER_NAMES.indexOf(name);
export const K_CREATED = k('created');
export const K_CONFIRMED = k('confirmed');
export const K_ABORTED = k('aborted');
export const K_REFUSED_FULL = k('refused-full');
export const K_CREATE_EXISTS = k('create-exists');
export const K_CREATE_INVALID = k('create-invalid');
export const K_EARLY_DROP = k('early-drop');
export const K_EXPIRED = k('expired');
export const K_KILLED = k('killed');
export const K_RECREATE = k('recreate');
export const K_CONFIRM_CLASH = k('confirm-clash');
export const K_UPDATE_IGNORED = k('update-ignored');
export const K_UPDATE_INVALID = k('update-invalid');
export const K_TCP_REOPEN = k('tcp-reopen');
export const K_SNAT_PRESERVED = k('snat-port-preserved');
export const K_SNAT_REMAPPED = k('snat-port-remapped');
export const K_SNAT_SOURCE_MAPPED = k('snat-source-mapped');
export const K_SNAT_EXHAUSTED = k('snat-exhausted');
export const K_SNAT_INVALID = k('snat-invalid');
export const K_SNAT_PROBES = k('snat-probes');
export const K_RELATED_HIT = k('related-hit');
export const K_RELATED_MISS = k('related-miss');
export const K_REFUSED_PER_HOST = k('refused-per-host');
export const K_TCP_INVALID_FLAGS = k('tcp-invalid-flags');
export const K_TCP_OUT_OF_WINDOW = k('tcp-out-of-window');
export const K_TCP_WINDOW_LIBERAL = k('tcp-window-liberal');
export const K_TCP_RST_INVALID = k('tcp-rst-invalid');
export const K_TCP_RST_IN_WINDOW = k('tcp-rst-in-window');
export const K_TCP_RESYNC = k('tcp-resync');

// ---- tuples -----------------------------------------------------------------------------------------------
/** Ports word of an ICMP echo tuple: the identifier plays both ports, so the word is the same in both directions. */
export function icmpPorts(id: number): number {
  return (id << 16) | (id & 0xffff) | 0;
}

/** Ports word of a TCP/UDP tuple (the first 32 bits of the L4 header, as `DataView.getInt32` reads them). */
export function packPorts(sport: number, dport: number): number {
  return (sport << 16) | (dport & 0xffff) | 0;
}

/** Swap the halves of a ports word: the inverse tuple's ports. */
export function swapPorts(ports: number): number {
  return (ports << 16) | (ports >>> 16) | 0;
}
