/**
 * A minimal tar writer (POSIX ustar, regular files only) for `egress supportbundle`: the archive of a few files
 * is built in memory and gzipped with node:zlib. GNU tar, bsdtar and busybox read it (test/cli/supportbundle.test.ts
 * lists and extracts bundles with the system tar).
 */

export interface TarEntry {
  /** Path inside the archive, `/`-separated, relative. */
  readonly name: string;
  readonly data: Uint8Array;
  /** Permission bits (default 0600). */
  readonly mode?: number;
  /** Modification time, seconds since the epoch. */
  readonly mtime: number;
}

const BLOCK = 512;

/** Write `value` as NUL-terminated octal into `len` bytes of `h` at `off`. */
function octal(h: Buffer, off: number, len: number, value: number): void {
  const s = value.toString(8);
  if (s.length > len - 1) throw new Error(`tar: value ${value} does not fit ${len} bytes`);
  h.write(s.padStart(len - 1, '0') + '\0', off, len, 'ascii');
}

/**
 * ustar's name field is 100 bytes and its prefix 155: a longer path is split at a `/` into prefix and name.
 * Returns [prefix, name]; throws when the path cannot be stored.
 */
function splitName(path: string): [string, string] {
  if (Buffer.byteLength(path) <= 100) return ['', path];
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name !== '') return [prefix, name];
  }
  throw new Error(`tar: path too long for ustar: ${path}`);
}

/** The 512-byte ustar header of a regular file. */
export function tarHeader(e: TarEntry): Buffer {
  if (e.name === '' || e.name.startsWith('/') || e.name.split('/').includes('..'))
    throw new Error(`tar: bad path ${JSON.stringify(e.name)}`);
  const [prefix, name] = splitName(e.name);
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  octal(h, 100, 8, e.mode ?? 0o600);
  octal(h, 108, 8, 0); // uid
  octal(h, 116, 8, 0); // gid
  octal(h, 124, 12, e.data.length);
  octal(h, 136, 12, Math.max(0, Math.floor(e.mtime)));
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  h.write('0', 156, 1, 'ascii'); // typeflag: regular file
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

/** The whole archive: each header, its data padded to 512 bytes, then two zero blocks. */
export function tarArchive(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(tarHeader(e), Buffer.from(e.data.buffer, e.data.byteOffset, e.data.length));
    const pad = (BLOCK - (e.data.length % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}
