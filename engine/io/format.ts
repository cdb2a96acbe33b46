/**
 * Capture file constants: pcap (draft-ietf-opsawg-pcap) and pcapng (draft-ietf-opsawg-pcapng) magic numbers,
 * block types, option codes, link types and the limits the readers enforce.
 *
 * pcap file header (24 bytes), then one 16-byte record header before each packet:
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  0 |                          Magic Number                         |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  4 |          Major Version        |         Minor Version         |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  8 |                           Reserved1                           |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 12 |                           Reserved2                           |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 16 |                            SnapLen                            |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 20 | FCS |f|0 0 0 0 0 0 0 0 0 0 0 0|         LinkType              |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *    record:  Timestamp (Seconds) | Timestamp (µs or ns) | Captured Packet Length | Original Packet Length
 *             | Packet Data (Captured Packet Length bytes, no padding)
 *
 * All fields are in the writer's byte order, told by how the magic reads. The magic also tells the fraction
 * unit: 0xA1B2C3D4 microseconds, 0xA1B23C4D nanoseconds.
 *
 * pcapng: a sequence of blocks, each `Block Type (32) | Block Total Length (32) | Body | Block Total Length (32)`,
 * total length a multiple of 4 and at least 12. A Section Header Block opens each section and sets its byte
 * order with its Byte-Order Magic; Interface Description Blocks number the section's interfaces 0, 1, ...
 */

/** pcap magic, microsecond timestamps, as read in the writer's byte order. */
export const PCAP_MAGIC_US = 0xa1b2c3d4;
/** pcap magic, nanosecond timestamps. */
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/** Alexey Kuznetzov's "modified pcap" magic (extra record fields): recognised only to reject it clearly. */
export const PCAP_MAGIC_MODIFIED = 0xa1b2cd34;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
export const PCAP_FILE_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;

/** pcapng Section Header Block type (a palindrome: reads the same in both byte orders). */
export const BT_SHB = 0x0a0d0d0a;
/** Interface Description Block. */
export const BT_IDB = 0x00000001;
/** Packet Block (obsolete). */
export const BT_PB = 0x00000002;
/** Simple Packet Block. */
export const BT_SPB = 0x00000003;
/** Name Resolution Block. */
export const BT_NRB = 0x00000004;
/** Interface Statistics Block. */
export const BT_ISB = 0x00000005;
/** Enhanced Packet Block. */
export const BT_EPB = 0x00000006;
/** Decryption Secrets Block. */
export const BT_DSB = 0x0000000a;
/** Custom Blocks (copiable and not). */
export const BT_CB_COPY = 0x00000bad;
export const BT_CB_NOCOPY = 0x40000bad;

/** Byte-Order Magic of a Section Header Block, as read in the section's byte order. */
export const PCAPNG_BOM = 0x1a2b3c4d;
export const PCAPNG_VERSION_MAJOR = 1;
export const PCAPNG_VERSION_MINOR = 0;

/** Minimum block lengths (header, fixed body fields, trailer). */
export const SHB_MIN_LEN = 28;
export const IDB_MIN_LEN = 20;
export const EPB_MIN_LEN = 32;
export const PB_MIN_LEN = 32;
export const SPB_MIN_LEN = 16;
export const BLOCK_MIN_LEN = 12;

/** Option codes. */
export const OPT_ENDOFOPT = 0;
/** opt_comment: UTF-8 text, any block. */
export const OPT_COMMENT = 1;
/** if_name: UTF-8 interface name. */
export const OPT_IF_NAME = 2;
/** epb_flags: 32 bits; bits 0-1 the direction (EPB_INBOUND, EPB_OUTBOUND). */
export const OPT_EPB_FLAGS = 2;
export const EPB_INBOUND = 1;
export const EPB_OUTBOUND = 2;
/** if_tsresol: 1 byte; MSB 0: resolution 10^-n s, MSB 1: 2^-n s. Default 10^-6. */
export const OPT_IF_TSRESOL = 9;
/** if_tsoffset: signed 64-bit seconds added to every timestamp of the interface. */
export const OPT_IF_TSOFFSET = 14;

/** LINKTYPE_ETHERNET: IEEE 802.3 frames starting at the destination MAC. */
export const LINKTYPE_ETHERNET = 1;
/** LINKTYPE_RAW: raw IPv4 or IPv6, starting at the IP header. */
export const LINKTYPE_RAW = 101;
/** LINKTYPE_IPV4: raw IPv4 only. */
export const LINKTYPE_IPV4 = 228;
/** LINKTYPE_IPV6: raw IPv6 only. */
export const LINKTYPE_IPV6 = 229;

/** True when packets of this link type start at the IP header (RAW, IPV4, IPV6). */
export function isRawIp(linkType: number): boolean {
  return linkType === LINKTYPE_RAW || linkType === LINKTYPE_IPV4 || linkType === LINKTYPE_IPV6;
}

/**
 * Largest captured length a record may claim (libpcap's and Wireshark's standard maximum, 256 KiB); the
 * readers reject bigger claims as corruption instead of growing their buffers for them.
 */
export const MAX_SNAPLEN = 262144;
/** Default snaplen of the writers (what tcpdump and dumpcap use). */
export const DEFAULT_SNAPLEN = 262144;
/**
 * Largest pcapng block the reader loads whole (SHB, IDB and packet blocks, options included): a packet of
 * MAX_SNAPLEN plus generous room for options. Other blocks are skipped by length whatever their size.
 */
export const MAX_BLOCK_LEN = 4 * 1024 * 1024;
/** Default size of the readers' and writers' file buffers. */
export const DEFAULT_BUFFER_SIZE = 1024 * 1024;
