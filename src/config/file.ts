// Reads a small configuration file without ever blocking PID 1: a FIFO or device put (or
// symlinked) where a service file is expected must be refused, not opened for a blocking read.

import { closeSync, constants, fstatSync, openSync, readFileSync } from "node:fs";

/** Service files are a few hundred bytes; anything this big is a mistake or an attack. */
export const MAX_CONFIG_BYTES = 1 << 20;

const utf8 = new TextDecoder("utf-8", { fatal: true });

export class UnreadableFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnreadableFileError";
  }
}

/**
 * The text of `path` (symlinks followed). Throws the fs error (with `code`, e.g. ENOENT) if it
 * can't be opened, UnreadableFileError if it is not a regular file, is too large or is not UTF-8.
 */
export function readConfigFile(path: string): string {
  // O_NONBLOCK makes opening a FIFO return at once; fstat on the open fd then decides, so the
  // file can't be swapped for something else between the check and the read.
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new UnreadableFileError(`not a regular file`);
    if (stat.size > MAX_CONFIG_BYTES) {
      throw new UnreadableFileError(`file is larger than ${MAX_CONFIG_BYTES} bytes`);
    }
    try {
      return utf8.decode(readFileSync(fd));
    } catch {
      // Replacing bad bytes with U+FFFD would silently change a command or a value.
      throw new UnreadableFileError("file is not valid UTF-8");
    }
  } finally {
    closeSync(fd);
  }
}

/** "ENOENT: no such file or directory" rather than Node's message with the path repeated. */
export function fsErrorText(err: unknown): string {
  if (err instanceof UnreadableFileError) return err.message;
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    const syscallText = err.message.replace(/,\s*\w+\s+'.*'$/, "");
    return code && syscallText.startsWith(code) ? syscallText : err.message;
  }
  return String(err);
}
