// Splits a JSON-RPC byte stream into JSON texts the way upstream's reth-ipc codec does: no
// delimiter is required, a frame ends where the `{`/`[` depth returns to 0 (brackets inside
// strings don't count), and whitespace between frames is skipped. It works on bytes because the
// structural characters are ASCII and never occur inside a multi-byte UTF-8 sequence, so a
// character split across two writes is only decoded once its frame is complete.
//
// Where upstream cuts garbage into 2-byte fragments, a garbage frame here runs up to the next
// newline or `{`/`[`: one parse error per line of junk, and a valid frame that follows junk on the
// same line is still found.

import { concat } from "../bytes.ts";
import { Budget } from "./limits.ts";

const DEFAULT_MAX_FRAME = 10 * 1024 * 1024;

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;

const isSpace = (b: number) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;

const encoder = new TextEncoder();
// Non-fatal: a frame with invalid UTF-8 gets U+FFFD and then fails or passes JSON parsing on its
// own merits, instead of being silently dropped as upstream does.
const decoder = new TextDecoder("utf-8");

type Mode = "idle" | "json" | "garbage";

/** Why a splitter stopped: its frame passed `maxFrame`, or the shared budget ran out. */
type FrameOverflow = "too-big" | "busy";

/**
 * A resumable splitter: `feed` hands it a chunk, `next` takes one frame at a time, so a transport
 * can split a chunk of a quarter of a million tiny frames over many turns of the event loop
 * instead of in one.
 */
export class FrameSplitter {
  /** Set once the splitter gave up; it then ignores all further input. */
  overflow: FrameOverflow | null = null;

  /** The unfinished frame, as copies of the chunks it arrived in (no doubling buffer to pay for). */
  private parts: Uint8Array[] = [];
  private partialLen = 0;
  private mode: Mode = "idle";
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Input fed and not split yet, from `pos` on; `owned` once it is our own copy. */
  private input: Uint8Array | null = null;
  private pos = 0;
  private owned = false;
  private eof = false;

  constructor(
    readonly maxFrame: number = DEFAULT_MAX_FRAME,
    /** Shared by every connection, so many unfinished frames together stay bounded too. */
    private readonly budget: Budget = new Budget(Number.POSITIVE_INFINITY),
  ) {}

  get overflowed(): boolean {
    return this.overflow !== null;
  }

  /** True while bytes of an unfinished frame are held. */
  get holding(): boolean {
    return this.partialLen > 0;
  }

  /** True while fed input is not split yet: `next` has more to look at. */
  get pending(): boolean {
    return this.input !== null || (this.eof && this.mode !== "idle" && this.overflow === null);
  }

  /**
   * Hands over bytes to split. The chunk is only looked at, not copied: before the caller's
   * buffer is reused, `keep` must be called.
   */
  feed(chunk: Uint8Array | string): void {
    if (this.overflow) return;
    const bytes = typeof chunk === "string" ? encoder.encode(chunk) : chunk;
    if (this.input === null) {
      this.input = bytes;
      this.pos = 0;
      this.owned = typeof chunk === "string";
      return;
    }
    // More input before the last was split (a transport that reads on): queue it behind.
    const rest = this.input.subarray(this.pos);
    const joined = new Uint8Array(rest.length + bytes.length);
    joined.set(rest);
    joined.set(bytes, rest.length);
    this.input = joined;
    this.pos = 0;
    this.owned = true;
  }

  /** Copies what is left of the fed chunk, so the transport may reuse its buffer. */
  keep(): void {
    if (this.input === null || this.owned) return;
    this.input = this.input.slice(this.pos);
    this.pos = 0;
    this.owned = true;
  }

  /** End of input: after what was fed, an unfinished frame comes out as-is (for its parse error). */
  finish(): void {
    this.eof = true;
  }

  /** The next complete frame, or null until more input is fed (or at the end, or on overflow). */
  next(): string | null {
    if (this.overflow) return null;
    const bytes = this.input;
    if (bytes !== null) {
      let start = this.pos;
      // Where the next quote and backslash are (-2: not looked for yet, -1: none left), so the
      // inside of a string is skipped with a native search rather than byte by byte.
      let nextQuote = -2;
      let nextSlash = -2;
      for (let i = this.pos; i < bytes.length; i++) {
        const b = bytes[i] as number;
        if (this.mode === "garbage") {
          if (b !== NEWLINE && b !== OPEN_BRACE && b !== OPEN_BRACKET) continue;
          // The byte that ends garbage may begin the next frame: it is looked at again.
          this.mode = "idle";
          return this.emit(bytes, start, i, i);
        }
        if (this.mode === "idle") {
          if (isSpace(b)) continue;
          start = i;
          if (b === OPEN_BRACE || b === OPEN_BRACKET) {
            this.mode = "json";
            this.depth = 1;
            this.inString = false;
            this.escaped = false;
          } else {
            this.mode = "garbage";
          }
          continue;
        }
        if (this.inString) {
          if (this.escaped) {
            this.escaped = false;
            continue;
          }
          if (nextQuote !== -1 && nextQuote < i) nextQuote = bytes.indexOf(QUOTE, i);
          if (nextSlash !== -1 && nextSlash < i) nextSlash = bytes.indexOf(BACKSLASH, i);
          const stop =
            nextQuote === -1
              ? nextSlash
              : nextSlash === -1
                ? nextQuote
                : Math.min(nextQuote, nextSlash);
          if (stop === -1) {
            // The rest of the chunk is inside the string.
            i = bytes.length;
            continue;
          }
          i = stop;
          if (bytes[i] === BACKSLASH) this.escaped = true;
          else this.inString = false;
        } else if (b === QUOTE) {
          this.inString = true;
        } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
          this.depth++;
        } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
          this.depth--;
          if (this.depth === 0) {
            this.mode = "idle";
            return this.emit(bytes, start, i + 1, i + 1);
          }
        }
      }
      this.input = null;
      if (this.mode !== "idle") {
        if (this.partialLen + bytes.length - start > this.maxFrame) this.stop("too-big");
        else this.append(bytes.subarray(start));
      }
      if (this.overflow) return null;
    }
    if (this.eof && this.mode !== "idle") {
      this.mode = "idle";
      return this.takePartial();
    }
    return null;
  }

  /** The connection is gone: gives the held bytes back to the budget. */
  dispose(): void {
    this.budget.release(this.partialLen);
    this.parts = [];
    this.partialLen = 0;
    this.input = null;
  }

  /** The frame [start, end) of `bytes` (after what is held), going on from `resume`. */
  private emit(bytes: Uint8Array, start: number, end: number, resume: number): string | null {
    this.pos = resume;
    if (this.partialLen + end - start > this.maxFrame) {
      this.stop("too-big");
      return null;
    }
    if (this.partialLen === 0) return decoder.decode(bytes.subarray(start, end));
    // The last piece is not copied: it is decoded at once, before the chunk is reused.
    this.parts.push(bytes.subarray(start, end));
    return this.takePartial(end - start);
  }

  /** Decodes and drops the held frame; `extra` bytes at its end were never taken from the budget. */
  private takePartial(extra = 0): string {
    const whole = concat(this.parts, this.partialLen + extra);
    this.budget.release(this.partialLen);
    this.parts = [];
    this.partialLen = 0;
    return decoder.decode(whole);
  }

  private append(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (!this.budget.take(bytes.length)) {
      this.stop("busy");
      return;
    }
    // Copied: the chunk belongs to the transport's read buffer.
    this.parts.push(new Uint8Array(bytes));
    this.partialLen += bytes.length;
  }

  private stop(why: FrameOverflow): void {
    this.overflow = why;
    this.mode = "idle";
    this.dispose();
  }
}

/** jsonrpsee's reply to an oversized request (code -32007 "Request is too big"). */
export function oversizedReply(maxFrame: number): string {
  return JSON.stringify({
    jsonrpc: "2.0",
    error: {
      code: -32007,
      message: "Request is too big",
      data: `Exceeded max limit of ${maxFrame}`,
    },
    id: null,
  });
}

/** jsonrpsee's "server is busy": a cap shared by all clients was hit; `why` names it. */
export function busyReply(why: string): string {
  return JSON.stringify({
    jsonrpc: "2.0",
    error: { code: -32009, message: "Server is busy, try again later", data: why },
    id: null,
  });
}

/** Why a frame was refused when the unfinished frames of all clients hit `--max-unfinished`. */
export const unfinishedOverBudget = (max: number) =>
  `Unfinished requests of all clients exceed ${max} bytes`;

/** Why a connection was refused at `--max-connections`. */
export const tooManyConnections = (max: number) =>
  `${max} connections are open, the most zinit takes (--max-connections)`;

/** A frame left unfinished for too long: the peer is dropped with a parse error saying why. */
export function stalledFrameReply(timeoutMs: number): string {
  return JSON.stringify({
    jsonrpc: "2.0",
    error: {
      code: -32700,
      message: "Parse error",
      data: `Unfinished request: no data for ${timeoutMs / 1000} s`,
    },
    id: null,
  });
}
