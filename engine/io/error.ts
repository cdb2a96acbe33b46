/**
 * CaptureError: everything a bad capture file (or an unreadable one) can cause, as one line that names the
 * file, the byte offset and what is wrong: `in.pcap: truncated record header at byte 1234 (need 16 bytes, 7 left)`.
 * Readers and writers throw nothing else for bad input or failed file I/O.
 */
export class CaptureError extends Error {
  override readonly name = 'CaptureError';
  /** The file as the caller named it. */
  readonly file: string;
  /** Byte offset in the file of the header, block or field at fault; undefined when no offset applies. */
  readonly offset: number | undefined;

  /**
   * `what` names the thing at `offset` ("truncated record header"); `tail` follows "at byte N" as written
   * (" (need 16 bytes, 7 left)", " claims 9 captured bytes of a 7-byte packet"). Without an offset the message
   * is `file: what`.
   */
  constructor(file: string, offset: number | undefined, what: string, tail = '') {
    super(offset === undefined ? `${file}: ${what}${tail}` : `${file}: ${what} at byte ${offset}${tail}`);
    this.file = file;
    this.offset = offset;
  }
}

/** One line for a system error (`ENOENT: no such file or directory`) without the path Node appends. */
export function sysMessage(e: unknown): string {
  if (e instanceof Error) return e.message.replace(/, \w+ '.*'$/, '');
  return String(e);
}
