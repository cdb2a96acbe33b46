/**
 * engine/io: capture files and in-memory channels, as readers/writers and as Ports. Imports engine/packet,
 * engine/graph and engine/wire only.
 *
 * Contract:
 * - Readers (`openCapture(path)` → `CaptureReader`, pcap or pcapng by magic) stream through one fixed buffer:
 *   a file of any size costs ~1.25 MiB. `advance()` loads the next record into the reader's fields
 *   (`buf[off .. off+len)`, `origLen`, `tsSec`, `tsNsec`, `linkType`, `byteOffset`) without allocating; the
 *   bytes are valid until the next call. `next()` is the same with a reused record object.
 * - Every problem with a file (unreadable, bad magic, bad lengths, truncated) is a `CaptureError` whose
 *   message names the file and the byte offset; nothing else is thrown for bad input. A truncated tail may
 *   be tolerated (`tolerateTruncation`), as tcpdump does.
 * - Writers (`PcapWriter`, `PcapngWriter`) buffer records and write them with `fs.writeSync`; records longer
 *   than the snaplen are truncated, their original length kept.
 * - Ports (engine/graph `Port`): `CaptureReaderPort`, `CaptureWriterPort`, `RecordingPort` (a tap around any
 *   port), `MemoryPort` (bounded in-memory queue; `MemoryPort.link` makes a wire) and `HandoffPort` (a
 *   SharedArrayBuffer ring between two datapath worker threads, handoff-ring.ts). They count drops and
 *   errors instead of throwing, and allocate nothing per packet on their hot paths.
 * - `readCaptureFile` / `writeCaptureFile`: whole-file conveniences for tests and small files.
 */
export {
  LINKTYPE_ETHERNET,
  LINKTYPE_RAW,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  MAX_SNAPLEN,
  DEFAULT_SNAPLEN,
  isRawIp,
  EPB_INBOUND,
  EPB_OUTBOUND,
} from './format.js';
export { CaptureError } from './error.js';
export { CaptureReader, type CaptureRecord, type ReaderOptions } from './reader.js';
export { PcapReader } from './pcap-reader.js';
export { PcapngReader, type InterfaceInfo } from './pcapng-reader.js';
export { CaptureWriter, PcapWriter, PcapngWriter, createCaptureWriter, type WriterOptions } from './writer.js';
export { openCapture, readCaptureFile, writeCaptureFile, type CaptureFile, type WriteCaptureOptions } from './open.js';
export {
  CaptureReaderPort,
  CaptureWriterPort,
  RecordingPort,
  READER_PORT_COUNTERS,
  WRITER_PORT_COUNTERS,
  type CapturePortOptions,
  type RecordDirection,
} from './capture-port.js';
export { MemoryPort, MEMORY_PORT_COUNTERS, type MemoryPortOptions, type SentPacket } from './memory-port.js';
export { Stager, StageViews, slotViews } from './copy.js';
export {
  HandoffPort,
  HandoffRing,
  HANDOFF_PORT_COUNTERS,
  type HandoffPortOptions,
  type HandoffRingOptions,
} from './handoff-ring.js';
