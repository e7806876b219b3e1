// Reads a small configuration file without ever blocking PID 1 or filling its memory: a FIFO or
// device put (or symlinked) where a service file is expected must be refused, not opened for a
// blocking read, and a file that claims to be small must not be believed.

import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";

/** Service files are a few hundred bytes; anything this big is a mistake or an attack. */
export const MAX_CONFIG_BYTES = 1 << 20;

/** First read buffer: enough for any real service file in one read. */
const FIRST_READ_BYTES = 16 * 1024;
/** The read past the limit that tells whether there is more. */
const PROBE_BYTES = 4096;

const utf8 = new TextDecoder("utf-8", { fatal: true });

class UnreadableFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnreadableFileError";
  }
}

/**
 * The text of `path` (symlinks followed), at most `limit` bytes. Throws the fs error (with `code`,
 * e.g. ENOENT) if it can't be opened or read, UnreadableFileError if it is not a regular file, is
 * larger than `limit` or is not UTF-8.
 */
export function readConfigFile(path: string, limit = MAX_CONFIG_BYTES): string {
  // O_NONBLOCK makes opening a FIFO return at once; fstat on the open fd then decides, so the
  // file can't be swapped for something else between the check and the read.
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    if (!fstatSync(fd).isFile()) throw new UnreadableFileError("not a regular file");
    // The size fstat reports is not trusted: /proc and sysfs files are "regular files of size 0"
    // that hold anything (a symlink to /proc/self/pagemap reads gigabytes). At most `limit`
    // bytes are kept; one more read then tells a file too large from one exactly at the limit.
    let buf = Buffer.allocUnsafe(Math.min(FIRST_READ_BYTES, limit));
    let used = 0;
    for (;;) {
      if (used === buf.length) {
        if (used === limit) {
          // A whole page, not one byte: some /proc files refuse reads that are not a multiple of 8.
          if (readSync(fd, Buffer.allocUnsafe(PROBE_BYTES), 0, PROBE_BYTES, null) > 0) {
            throw new UnreadableFileError(`file is larger than ${limit} bytes`);
          }
          break;
        }
        const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, limit));
        buf.copy(bigger, 0, 0, used);
        buf = bigger;
      }
      const n = readSync(fd, buf, used, buf.length - used, null);
      if (n === 0) break;
      used += n;
    }
    try {
      return utf8.decode(buf.subarray(0, used));
    } catch {
      // Replacing bad bytes with U+FFFD would silently change a command or a value.
      throw new UnreadableFileError("file is not valid UTF-8");
    }
  } finally {
    closeSync(fd);
  }
}
