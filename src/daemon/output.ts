// Service output: reading a child's pipe into lines for the ring, the ring's line formats, and
// forwarding raw lines to zinit's own stdout/stderr without ever blocking the daemon.

import { closeSync, constants, openSync, writeSync } from "node:fs";

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

/** Bytes waiting for a full stdout/stderr before new lines are dropped instead. */
const WRITE_BACKLOG = 256 * 1024;
const RETRY_MS = 50;

/**
 * Writes to zinit's stdout or stderr without ever blocking the event loop.
 *
 * The fd is reopened through /proc/self/fd with O_NONBLOCK. For a pipe, FIFO or tty that is a
 * new open file description, so the flag does not leak to services that inherit the same stdout
 * (setting O_NONBLOCK on fd 1 itself would hand them EAGAIN). When the reader is slow, up to
 * WRITE_BACKLOG bytes wait and are retried on a timer; beyond that, lines are dropped and counted,
 * and a `zinit: <n> lines dropped` line marks the gap once writing works again. EPIPE and other
 * write errors drop the data. If the reopen fails (a socket, no /proc), fd 1/2 is used as is.
 */
class NonBlockingWriter {
  private readonly target: number;
  private queue: string[] = [];
  private queuedBytes = 0;
  /** The batch in flight: bytes the fd has not taken yet, its line count, the drops it reports. */
  private unwritten: Buffer | null = null;
  private batchLines = 0;
  private batchNoted = 0;
  private dropped = 0;
  /** Where in `queue` the lines went missing, so the note sits in the gap; -1: no gap queued. */
  private noteAt = -1;
  private retry: Timer | undefined;
  private flushScheduled = false;

  constructor(fd: 1 | 2) {
    let target: number = fd;
    try {
      target = openSync(
        `/proc/self/fd/${fd}`,
        // O_NOCTTY: PID 1 is a session leader, and reopening a tty must not make it our ctty.
        constants.O_WRONLY | constants.O_APPEND | constants.O_NONBLOCK | constants.O_NOCTTY,
      );
    } catch {
      // Keep the inherited description; see the class comment.
    }
    this.target = target;
  }

  /** Queues `text` (which ends in `\n`) and writes it now, as far as the fd takes it. */
  writeNow(text: string): void {
    this.enqueue(text);
    this.flush();
  }

  /** Queues `text` and writes everything queued in one go after the current task. */
  writeSoon(text: string): void {
    this.enqueue(text);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private enqueue(text: string): void {
    const bytes = Buffer.byteLength(text);
    if (this.queuedBytes + (this.unwritten?.length ?? 0) + bytes > WRITE_BACKLOG) {
      if (this.noteAt === -1) this.noteAt = this.queue.length;
      this.dropped++;
      return;
    }
    this.queue.push(text);
    this.queuedBytes += bytes;
  }

  private flush(): void {
    if (this.retry !== undefined) return;
    // Several rounds only after a stall: the remainder first, then what queued up meanwhile.
    for (;;) {
      if (this.unwritten === null) {
        if (this.queue.length === 0 && this.dropped === 0) return;
        this.batchLines = this.queue.length;
        this.batchNoted = this.dropped;
        if (this.dropped > 0) {
          this.queue.splice(Math.max(this.noteAt, 0), 0, `zinit: ${this.dropped} lines dropped\n`);
          this.noteAt = -1;
        }
        this.unwritten = Buffer.from(this.queue.join(""));
        this.queue = [];
        this.queuedBytes = 0;
      }
      try {
        while (this.unwritten.length > 0) {
          this.unwritten = this.unwritten.subarray(writeSync(this.target, this.unwritten));
        }
        this.dropped -= this.batchNoted;
        this.unwritten = null;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EAGAIN") {
          // Not unref'd: pending output keeps the process up until it is written, as stdout does.
          this.retry = setTimeout(() => {
            this.retry = undefined;
            this.flush();
          }, RETRY_MS);
          return;
        }
        // EPIPE, EBADF, EIO…: nobody reads this output now; count it like a full pipe.
        this.dropped += this.batchLines;
        this.noteAt = 0;
        this.unwritten = null;
        return;
      }
    }
  }
}

const writers = new Map<1 | 2, NonBlockingWriter>();

/** The one writer per fd, so zinit's messages and forwarded lines keep their relative order. */
export function outputWriter(fd: 1 | 2): NonBlockingWriter {
  let writer = writers.get(fd);
  if (!writer) {
    writer = new NonBlockingWriter(fd);
    writers.set(fd, writer);
  }
  return writer;
}

/**
 * A sink that copies each line, raw and `\n`-terminated, to zinit's stdout (1) or stderr (2).
 * Lines from one read are written together; it never throws and never blocks (see
 * NonBlockingWriter: a full pipe makes it drop lines rather than stall the daemon).
 */
export function forwardTo(fd: 1 | 2): LineSink {
  const writer = outputWriter(fd);
  return (text) => writer.writeSoon(`${text}\n`);
}
