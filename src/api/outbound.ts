// One connection's outbound queue, shared by the unix socket (a byte stream that may take part of
// a write) and the WebSocket (whole messages). It coalesces what is written during one turn of the
// event loop (a follower of a service printing 2 M lines must not cost 2 M syscalls), keeps what
// the peer has not taken yet, says when the peer is congested (input is then paused and log
// followers skip lines), and decides when a peer is to be dropped: its unread output passed the
// cap, or it has read nothing for the write timeout.

import { concat } from "../bytes.ts";

type OutboundSink =
  /** Takes what the kernel takes now: the count of bytes written, or -1 if the socket is gone. */
  | { kind: "stream"; write(bytes: Uint8Array): number }
  /**
   * Sends one whole message, or returns false when the transport's own buffer is full (it is
   * then retried on `writable()`); `buffered()` is what the transport still holds.
   */
  | { kind: "messages"; send(text: string): boolean; buffered(): number };

interface OutboundEvents {
  /** Output went over (true) or back under (false) the congestion mark: pause or resume input. */
  congestion(congested: boolean): void;
  /** Everything queued has reached the peer's transport: lagging followers may report losses. */
  emptied(): void;
  /** The peer must be dropped: it stopped reading ("stalled") or its queue passed the cap. */
  overflow(why: "cap" | "stalled"): void;
  /** The transport is gone (a write failed). */
  gone(): void;
}

interface OutboundLimits {
  maxQueued: number;
  writeTimeoutMs: number;
}

const encoder = new TextEncoder();
/** Small replies and log lines are written together, up to this many bytes per write. */
const WRITE_BATCH = 64 * 1024;
/** A transport holding more than this gets nothing more from us until it drains. */
const MESSAGE_HIGH_WATER = 256 * 1024;

export class OutboundQueue {
  /** Text written during this turn of the event loop, sent as one write at its end. */
  private pending: string[] = [];
  private pendingChars = 0;
  /** Unsent items; those before `head` are already written (a deque without O(n) shift). */
  private items: Array<Uint8Array | string> = [];
  private head = 0;
  private queuedBytes = 0;
  private state: "open" | "ending" | "closed" = "open";
  private isCongested = false;
  private stallTimer: Timer | null = null;
  private lastProgress = 0;
  private onEnded: (() => void) | null = null;

  constructor(
    private readonly sink: OutboundSink,
    private readonly limits: OutboundLimits,
    private readonly events: OutboundEvents,
  ) {}

  /** Unread output: ours plus what the transport holds. */
  get queued(): number {
    const held = this.sink.kind === "messages" ? this.sink.buffered() : 0;
    return this.queuedBytes + this.pendingChars + held;
  }

  /** True while the peer has more unread output than a quarter of the cap. */
  get congested(): boolean {
    return this.isCongested;
  }

  get open(): boolean {
    return this.state === "open";
  }

  /** Queues `text`; dropped silently once the queue is ending or closed. */
  push(text: string): void {
    if (this.state !== "open") return;
    // One reply bigger than the cap still goes out whole to a peer with nothing else queued.
    if (this.queued > 0 && this.queued + text.length > this.limits.maxQueued) {
      this.events.overflow("cap");
      return;
    }
    this.pending.push(text);
    this.pendingChars += text.length;
    if (this.pending.length === 1) queueMicrotask(() => this.sendPending());
    this.updateCongestion();
  }

  /** The transport can take more (Bun's `drain` event). */
  writable(): void {
    if (this.state === "closed") return;
    this.writeQueued();
  }

  /** Flushes everything, then calls `done` (which closes the transport). */
  end(done: () => void): void {
    if (this.state !== "open") return;
    this.sendPending();
    if (this.state !== "open") return;
    this.state = "ending";
    this.onEnded = done;
    if (this.isEmpty()) this.finishEnding();
  }

  /** Drops everything; nothing is written any more. */
  close(): void {
    this.state = "closed";
    this.pending = [];
    this.pendingChars = 0;
    this.items = [];
    this.head = 0;
    this.queuedBytes = 0;
    this.onEnded = null;
    this.clearStall();
  }

  private isEmpty(): boolean {
    return this.head === this.items.length && this.pendingChars === 0;
  }

  private sendPending(): void {
    if (this.state === "closed" || this.pending.length === 0) return;
    const text = this.pending.length === 1 ? (this.pending[0] as string) : this.pending.join("");
    const count = this.pending.length;
    const parts = this.pending;
    this.pending = [];
    this.pendingChars = 0;
    if (this.sink.kind === "stream") {
      this.enqueue(encoder.encode(text));
    } else {
      // Messages keep their boundaries: each is one WebSocket text frame.
      for (const part of count === 1 ? [text] : parts) this.enqueue(part);
    }
    this.writeQueued();
  }

  private enqueue(item: Uint8Array | string): void {
    this.items.push(item);
    this.queuedBytes += item.length;
  }

  private writeQueued(): void {
    let progressed = false;
    while (this.head < this.items.length && this.state !== "closed") {
      if (this.sink.kind === "stream") {
        const batch = this.takeBatch();
        const n = this.sink.write(batch);
        if (n < 0) {
          this.events.gone();
          return;
        }
        if (n > 0) progressed = true;
        this.consume(n);
        if (n < batch.length) break;
      } else {
        if (this.sink.buffered() > MESSAGE_HIGH_WATER) break;
        const text = this.items[this.head] as string;
        if (!this.sink.send(text)) break;
        progressed = true;
        this.items[this.head++] = "";
        this.queuedBytes -= text.length;
      }
    }
    if (this.state === "closed") return;
    if (progressed) this.lastProgress = performance.now();
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.updateCongestion();
    if (this.isEmpty()) {
      this.clearStall();
      if (this.state === "ending") this.finishEnding();
      else this.events.emptied();
    } else {
      this.armStall();
    }
  }

  private finishEnding(): void {
    const done = this.onEnded;
    this.onEnded = null;
    this.clearStall();
    done?.();
  }

  private updateCongestion(): void {
    const mark = this.limits.maxQueued / 4;
    const queued = this.queued;
    // Hysteresis: paused input resumes only once half of the mark has drained.
    const next = this.isCongested ? queued > mark / 2 : queued > mark;
    if (next === this.isCongested) return;
    this.isCongested = next;
    this.events.congestion(next);
  }

  private armStall(): void {
    if (this.stallTimer) return;
    if (this.lastProgress === 0) this.lastProgress = performance.now();
    const check = () => {
      this.stallTimer = null;
      if (this.state === "closed" || this.isEmpty()) return;
      const idle = performance.now() - this.lastProgress;
      if (idle >= this.limits.writeTimeoutMs) return this.events.overflow("stalled");
      this.stallTimer = setTimeout(check, this.limits.writeTimeoutMs - idle);
    };
    this.stallTimer = setTimeout(check, this.limits.writeTimeoutMs);
  }

  private clearStall(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    this.lastProgress = 0;
  }

  private takeBatch(): Uint8Array {
    const first = this.items[this.head] as Uint8Array;
    if (first.length >= WRITE_BATCH || this.head + 1 === this.items.length) return first;
    let end = this.head;
    let total = 0;
    while (
      end < this.items.length &&
      total + (this.items[end] as Uint8Array).length <= WRITE_BATCH
    ) {
      total += (this.items[end] as Uint8Array).length;
      end++;
    }
    return concat(this.items.slice(this.head, end) as Uint8Array[], total);
  }

  /** Drops the first `n` queued bytes, which the kernel accepted. */
  private consume(n: number): void {
    this.queuedBytes -= n;
    while (n > 0) {
      const chunk = this.items[this.head] as Uint8Array;
      if (chunk.length > n) {
        this.items[this.head] = chunk.subarray(n);
        return;
      }
      n -= chunk.length;
      this.head++;
    }
  }
}
