// Service output: cutting a child's output into lines, and the ring's line formats. Lines are
// kept as the bytes that were read (a batch per read, with the offsets of its line ends) and only
// decoded when someone reads them, so a flood costs one scan per read, not a string per line.

import type { ChunkSink } from "../sys/port.ts";
import { scanLines } from "./native.ts";

export type Stream = "stdout" | "stderr";

/** Receives one line of output, without its `\n` (or `\r\n`). Must not block. */
export type LineSink = (text: string) => void;

/** Longer lines are delivered in pieces of at most this many bytes, so memory stays bounded. */
const DEFAULT_MAX_LINE = 64 * 1024;

/** `[+] name: text` for stdout, `[-] name: text` for stderr (upstream's exact ring format). */
export function formatLine(name: string, stream: Stream, text: string): string {
  return `${stream === "stdout" ? "[+]" : "[-]"} ${name}: ${text}`;
}

export const START_TEXT = "------------ [start] ------------";

/** The line upstream stores on every spawn of a ring-logged service (or test, as `name/test`). */
export function startSeparator(name: string): string {
  return formatLine(name, "stderr", START_TEXT);
}

/**
 * Complete lines of one read: line k is `bytes[start(k), ends[k])`, where start(0) is 0 and
 * start(k) is `ends[k - 1]`; its text leaves out a final `\n` or `\r\n`.
 */
export interface LineBatch {
  bytes: Uint8Array;
  ends: Uint32Array;
}

const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** Offset where line `k` of a batch begins. */
export function lineStart(ends: Uint32Array, k: number): number {
  return k === 0 ? 0 : (ends[k - 1] as number);
}

/** Offset just past the text of line `k` (its `\n` or `\r\n` left out). */
function textEnd(bytes: Uint8Array, ends: Uint32Array, k: number): number {
  const s = lineStart(ends, k);
  let e = ends[k] as number;
  if (e > s && bytes[e - 1] === 10) {
    e--;
    if (e > s && bytes[e - 1] === 13) e--;
  }
  return e;
}

/** Line `k` as text; invalid UTF-8 becomes U+FFFD (upstream stopped reading at the first). */
export function lineText(bytes: Uint8Array, ends: Uint32Array, k: number): string {
  return decoder.decode(bytes.subarray(lineStart(ends, k), textEnd(bytes, ends, k)));
}

/** Scratch space for the line ends of one read; grown, never shrunk below one pipe read. */
let scratch = new Uint32Array(64 * 1024);

function scan(bytes: Uint8Array, max: number): Uint32Array {
  if (scratch.length < bytes.length) scratch = new Uint32Array(bytes.length);
  const n = scanLines(bytes, bytes.length, max, scratch);
  return scratch.slice(0, n);
}

/**
 * Turns the reads of one pipe into batches of complete lines. A read is kept as it came (no
 * copy) unless it is mostly the start of a line still to come; an unterminated tail (at most
 * `max + 1` bytes) waits for the rest of its line, which then becomes a batch of its own. `\n` is never inside a UTF-8 sequence and a cut never splits one, so each line decodes on
 * its own exactly as the whole stream would.
 */
export class LineCutter {
  private readonly max: number;
  private carry: Uint8Array | null = null;

  constructor(maxLine: number = DEFAULT_MAX_LINE) {
    this.max = Number.isFinite(maxLine) ? Math.max(4, Math.floor(maxLine)) : DEFAULT_MAX_LINE;
  }

  /** Hands each batch of complete lines now available to `emit` (none, one or two). */
  push(chunk: Uint8Array, emit: (batch: LineBatch) => void): void {
    if (chunk.length === 0) return;
    let rest = chunk;
    if (this.carry) {
      // The waiting line's end, joined to it; the rest of the read stands on its own.
      const nl = chunk.indexOf(10);
      const head = nl === -1 ? chunk : chunk.subarray(0, nl + 1);
      const joined = new Uint8Array(this.carry.length + head.length);
      joined.set(this.carry);
      joined.set(head, this.carry.length);
      this.carry = null;
      this.cut(joined, emit);
      if (nl === -1 || nl + 1 === chunk.length) return;
      rest = chunk.subarray(nl + 1);
    }
    this.cut(rest, emit);
  }

  /** At EOF: the unterminated last line, if any, ended as if its `\n` had come. */
  end(): LineBatch | null {
    const rest = this.carry;
    this.carry = null;
    if (!rest || rest.length === 0) return null;
    const bytes = new Uint8Array(rest.length + 1);
    bytes.set(rest);
    bytes[rest.length] = 10;
    return { bytes, ends: scan(bytes, this.max) };
  }

  private cut(bytes: Uint8Array, emit: (batch: LineBatch) => void): void {
    const ends = scan(bytes, this.max);
    const used = ends.length > 0 ? (ends[ends.length - 1] as number) : 0;
    // A tail that is most of its read stays a view of it (no copy); a small one is copied, so a
    // pipe never holds more than twice its waiting line.
    if (used < bytes.length) {
      const tail = bytes.length - used;
      this.carry = tail * 2 >= bytes.buffer.byteLength ? bytes.subarray(used) : bytes.slice(used);
    }
    if (ends.length === 0) return;
    // A batch holds on to its whole buffer; a read that is mostly the next line's start is copied.
    const kept = bytes.buffer.byteLength - used > used ? bytes.slice(0, used) : bytes;
    emit({ bytes: kept, ends });
  }
}

/** One string of text as a batch of its lines (zinit's own messages, separators). */
export function textBatch(text: string, maxLine: number = DEFAULT_MAX_LINE): LineBatch | null {
  let batch: LineBatch | null = null;
  new LineCutter(maxLine).push(new TextEncoder().encode(`${text}\n`), (b) => {
    batch = b;
  });
  return batch;
}

/** Calls `onLine` with each line of a batch, decoded. A throwing `onLine` loses that line only. */
export function eachLine(batch: LineBatch, onLine: LineSink): void {
  for (let k = 0; k < batch.ends.length; k++) {
    try {
      onLine(lineText(batch.bytes, batch.ends, k));
    } catch {
      // Losing one line beats closing the pipe: the child would die of SIGPIPE on its next write.
    }
  }
}

/**
 * A ChunkSink (for sys/stream.ts's pump) that hands each batch of complete lines to `onBatch`.
 * Nothing throws out: a throwing consumer loses that batch only, so the child is never left
 * writing into a dead pipe. `onEnd` runs once, after the last batch.
 */
export function batchSink(
  onBatch: (batch: LineBatch) => void,
  onEnd: () => void = () => {},
  maxLine: number = DEFAULT_MAX_LINE,
): ChunkSink {
  const cutter = new LineCutter(maxLine);
  const deliver = (batch: LineBatch | null) => {
    if (!batch) return;
    try {
      onBatch(batch);
    } catch {
      // See eachLine: the reader must go on.
    }
  };
  return {
    push: (bytes) => cutter.push(bytes, deliver),
    end: () => {
      deliver(cutter.end());
      try {
        onEnd();
      } catch {
        // The output is over either way.
      }
    },
  };
}

/** Like batchSink, one decoded line at a time. Invalid UTF-8 becomes U+FFFD and reading goes on. */
export function lineSink(
  onLine: LineSink,
  onEnd: () => void = () => {},
  maxLine: number = DEFAULT_MAX_LINE,
): ChunkSink {
  return batchSink((batch) => eachLine(batch, onLine), onEnd, maxLine);
}
