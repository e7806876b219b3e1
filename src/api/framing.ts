// Splits a JSON-RPC byte stream into JSON texts the way upstream's reth-ipc codec does: no
// delimiter is required, a frame ends where the `{`/`[` depth returns to 0 (brackets inside
// strings don't count), and whitespace between frames is skipped. It works on bytes because the
// structural characters are ASCII and never occur inside a multi-byte UTF-8 sequence, so a
// character split across two writes is only decoded once its frame is complete.
//
// Where upstream cuts garbage into 2-byte fragments, a garbage frame here runs up to the next
// newline or `{`/`[`: one parse error per line of junk, and a valid frame that follows junk on the
// same line is still found.

export const DEFAULT_MAX_FRAME = 10 * 1024 * 1024;

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

export class FrameSplitter {
  /** Set once a frame grew past the limit; the splitter then ignores all further input. */
  overflowed = false;

  private partial = new Uint8Array(4096);
  private partialLen = 0;
  private mode: Mode = "idle";
  private depth = 0;
  private inString = false;
  private escaped = false;

  constructor(readonly maxFrame: number = DEFAULT_MAX_FRAME) {}

  /** Feeds bytes; returns the frames completed by them, in order. */
  push(chunk: Uint8Array | string): string[] {
    const bytes = typeof chunk === "string" ? encoder.encode(chunk) : chunk;
    const frames: string[] = [];
    if (this.overflowed) return frames;
    let start = 0;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i] as number;
      if (this.mode === "garbage") {
        if (b !== NEWLINE && b !== OPEN_BRACE && b !== OPEN_BRACKET) continue;
        if (!this.emit(frames, bytes, start, i)) return frames;
        this.mode = "idle";
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
        if (this.escaped) this.escaped = false;
        else if (b === BACKSLASH) this.escaped = true;
        else if (b === QUOTE) this.inString = false;
      } else if (b === QUOTE) {
        this.inString = true;
      } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
        this.depth++;
      } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
        this.depth--;
        if (this.depth === 0) {
          if (!this.emit(frames, bytes, start, i + 1)) return frames;
          this.mode = "idle";
        }
      }
    }
    if (this.mode !== "idle") {
      if (this.partialLen + bytes.length - start > this.maxFrame) {
        this.overflow();
      } else {
        this.append(bytes.subarray(start));
      }
    }
    return frames;
  }

  /** End of input: an unfinished frame is returned as-is so the peer gets a parse error for it. */
  end(): string[] {
    if (this.overflowed || this.mode === "idle") return [];
    this.mode = "idle";
    const text = decoder.decode(this.partial.subarray(0, this.partialLen));
    this.partialLen = 0;
    return [text];
  }

  private emit(frames: string[], bytes: Uint8Array, start: number, end: number): boolean {
    if (this.partialLen + end - start > this.maxFrame) {
      this.overflow();
      return false;
    }
    if (this.partialLen === 0) {
      frames.push(decoder.decode(bytes.subarray(start, end)));
    } else {
      this.append(bytes.subarray(start, end));
      frames.push(decoder.decode(this.partial.subarray(0, this.partialLen)));
      this.partialLen = 0;
    }
    return true;
  }

  private append(bytes: Uint8Array): void {
    const need = this.partialLen + bytes.length;
    if (need > this.partial.length) {
      const grown = new Uint8Array(Math.max(need, this.partial.length * 2));
      grown.set(this.partial.subarray(0, this.partialLen));
      this.partial = grown;
    }
    this.partial.set(bytes, this.partialLen);
    this.partialLen = need;
  }

  private overflow(): void {
    this.overflowed = true;
    this.mode = "idle";
    this.partial = new Uint8Array(0);
    this.partialLen = 0;
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
