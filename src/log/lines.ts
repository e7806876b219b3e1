// Service output: reading a child's pipe into lines, and the ring's line formats.

import { closeSync } from "node:fs";

/** Receives one line of output, without its `\n` (or `\r\n`). Must not block. */
export type LineSink = (text: string) => void;

/** Longer lines are delivered in pieces of this many UTF-16 units, so memory stays bounded. */
export const DEFAULT_MAX_LINE = 64 * 1024;

/** `[+] name: text` for stdout, `[-] name: text` for stderr (upstream's exact ring format). */
export function formatLine(name: string, stream: "stdout" | "stderr", text: string): string {
  return `${stream === "stdout" ? "[+]" : "[-]"} ${name}: ${text}`;
}

/** The line upstream stores on every spawn of a ring-logged service (or test, as `name/test`). */
export function startSeparator(name: string): string {
  return `[-] ${name}: ------------ [start] ------------`;
}

/**
 * Reads `fd` (the non-blocking read end of a pipe, owned from now on by this reader) until EOF
 * and calls `onLine` for each line; `onEnd` runs once afterwards, and the fd is closed.
 * Invalid UTF-8 becomes U+FFFD and never stops the reader (upstream kills the pipe, and so the
 * service, on the first bad byte). A read error ends the stream like EOF does. Nothing throws out:
 * a throwing `onLine` loses that line only, so the child is never left writing into a dead pipe.
 * For `log: none`, pass a no-op sink: the pipe is still drained, so the child never blocks.
 */
export function readLines(
  fd: number,
  onLine: LineSink,
  onEnd: () => void,
  maxLine: number = DEFAULT_MAX_LINE,
): void {
  void pump(fd, new LineSplitter(onLine, maxLine), onEnd);
}

async function pump(fd: number, splitter: LineSplitter, onEnd: () => void): Promise<void> {
  try {
    // The only reader that works on a non-blocking pipe without polling (bun-platform.md §6).
    // It reads as fast as the pipe fills and waits for us between chunks, so memory stays flat.
    const reader = Bun.file(fd).stream().getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      splitter.push(value);
    }
  } catch {
    // EIO/EBADF and the like: the output is over; what was read is still delivered below.
  }
  splitter.end();
  try {
    // Bun closes its own dup of the fd at EOF, never the fd it was given.
    closeSync(fd);
  } catch {
    // Already closed: nothing is leaking.
  }
  try {
    onEnd();
  } catch {
    // The reader is done either way; the caller's bookkeeping error has nowhere better to go.
  }
}

class LineSplitter {
  private readonly decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  private readonly max: number;
  /** The unterminated tail, at most `max + 1` units long between chunks. */
  private carry = "";

  constructor(
    private readonly onLine: LineSink,
    maxLine: number,
  ) {
    this.max = Number.isFinite(maxLine) ? Math.max(2, Math.floor(maxLine)) : DEFAULT_MAX_LINE;
  }

  push(bytes: Uint8Array): void {
    // Stream mode carries a multi-byte sequence split across reads; `\n` is never inside one.
    this.take(this.decoder.decode(bytes, { stream: true }));
  }

  end(): void {
    this.take(this.decoder.decode());
    if (this.carry !== "") this.emit(this.carry);
    this.carry = "";
  }

  private take(text: string): void {
    let start = 0;
    for (let nl = text.indexOf("\n"); nl !== -1; nl = text.indexOf("\n", start)) {
      const line = text.slice(start, nl);
      this.emit(start === 0 ? this.carry + line : line);
      start = nl + 1;
    }
    this.carry = start === 0 ? this.carry + text : text.slice(start);
    this.flushLong();
  }

  /**
   * Cuts an unterminated line that outgrew the limit. One unit more than the limit is kept, so a
   * tail of just the `\r` of a coming `\r\n` never becomes an empty line of its own.
   */
  private flushLong(): void {
    while (this.carry.length > this.max + 1) {
      const cut = this.cutAt(this.carry);
      this.deliver(this.carry.slice(0, cut));
      this.carry = this.carry.slice(cut);
    }
  }

  private emit(line: string): void {
    let rest = line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line;
    while (rest.length > this.max) {
      const cut = this.cutAt(rest);
      this.deliver(rest.slice(0, cut));
      rest = rest.slice(cut);
    }
    this.deliver(rest);
  }

  /** Never between the two halves of a surrogate pair, which would garble the character. */
  private cutAt(text: string): number {
    const last = text.charCodeAt(this.max - 1);
    return last >= 0xd800 && last <= 0xdbff ? this.max - 1 : this.max;
  }

  private deliver(line: string): void {
    try {
      this.onLine(line);
    } catch {
      // Losing one line beats closing the pipe: the child would die of SIGPIPE on its next write.
    }
  }
}
