// Service output: splitting a child's output into lines, and the ring's line formats.

import type { ChunkSink } from "../sys/port.ts";

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
 * Splits the bytes of one output into lines for `onLine` (a ChunkSink for sys/stream.ts's pump).
 * Invalid UTF-8 becomes U+FFFD and never stops the reader (upstream kills the pipe, and so the
 * service, on the first bad byte). Lines longer than `maxLine` are delivered in pieces. Nothing
 * throws out: a throwing `onLine` loses that line only, so the child is never left writing into a
 * dead pipe. `onEnd` runs once, after the last line.
 */
export function lineSink(
  onLine: LineSink,
  onEnd: () => void = () => {},
  maxLine: number = DEFAULT_MAX_LINE,
): ChunkSink {
  const splitter = new LineSplitter(onLine, maxLine);
  return {
    push: (bytes) => splitter.push(bytes),
    end: () => {
      splitter.end();
      try {
        onEnd();
      } catch {
        // The output is over either way.
      }
    },
  };
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
