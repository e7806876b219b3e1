// Forwarding lines to zinit's own stdout/stderr without ever blocking the daemon.

import { constants, openSync, writeSync } from "node:fs";
import type { LineSink } from "./lines.ts";

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
