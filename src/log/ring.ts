// The log ring (upstream `manager/buffer.rs`, reworked): the recent lines of every ring-logged
// service, its test commands and zinit's own messages, each with the wall-clock time (ms) at which
// zinit read it, and live subscribers for followers.
//
// Lines are stored as the bytes of the read that brought them (a "slab": one source, one stream,
// one time, consecutive sequence numbers), per source (the label: `web`, `web/test`, `zinit`).
// The ring is bounded twice: at most `lines` lines (`init -b`, upstream's meaning) and at most
// `bytes` bytes of slabs and their bookkeeping. When either is exceeded, the oldest lines of the
// source holding the most (lines or bytes, whichever budget is exceeded) go first. So a flood
// evicts the flooder's own history, and a source holding no more than any other never loses a
// line to it: with k sources logging, each keeps at least an equal share (lines / k).

import { DEFAULT_BUFFER_BYTES, MIN_BUFFER_BYTES } from "../defaults.ts";
import { formatLine, type LineBatch, lineText, type Stream, textBatch } from "./lines.ts";

/** One line as the query methods return it. `seq` orders every line zinit ever stored. */
export interface LogRecord {
  seq: number;
  /** Milliseconds since the epoch at which zinit read the line. */
  time: number;
  /** The label: a service name, `<name>/test` (or `/live`, `/stop`), or `zinit`. */
  service: string;
  stream: Stream;
  line: string;
}

/** A service name to keep only that service's lines, or `undefined` for every line. */
type LogFilter = string | undefined;

/**
 * Upstream's filter: the text after the 4-character `[+] `/`[-] ` prefix starts with `<name>:`.
 * So `name` excludes `name/test` lines and zinit's own lines, and is not a substring match.
 */
export function matchesFilter(line: string, name: LogFilter): boolean {
  return name === undefined || line.startsWith(`${name}:`, 4);
}

/** What a record follower or query keeps; every part that is set must match. */
export interface RecordFilter {
  /** Exact labels (`web` does not include `web/test`). */
  names?: ReadonlySet<string>;
  /** Tested against the line's text. */
  grep?: (text: string) => boolean;
}

export interface FollowListener {
  line(record: LogRecord): void;
  /** The ring will deliver no more lines: zinit is stopping. */
  end(reason: string): void;
}

/** Bookkeeping bytes per slab (its objects and typed-array headers), counted in the byte budget. */
export const SLAB_OVERHEAD = 192;
/** stream_currentLogs answers with the newest lines whose JSON fits in this (the whole ring by
 *  default), so the reply always fits the socket's output queue. */
export const SNAPSHOT_REPLY_BYTES = 8 * 1024 * 1024;

const NO_BYTES = new Uint8Array(0);
const NO_ENDS = new Uint32Array(0);

export class Slab {
  /** First live line; older ones were evicted. */
  head = 0;
  dead = false;
  readonly cost: number;
  readonly count: number;

  constructor(
    readonly source: Source,
    readonly stream: Stream,
    public bytes: Uint8Array,
    public ends: Uint32Array,
    /** Sequence number of line 0. */
    readonly seq: number,
    readonly time: number,
  ) {
    this.count = ends.length;
    // The whole buffer: a batch may be a view of a larger read.
    this.cost = bytes.buffer.byteLength + ends.byteLength + SLAB_OVERHEAD;
  }

  /** Evicted: its memory goes now, whoever still holds the slab (a query skips dead slabs). */
  release(): void {
    this.head = this.count;
    this.dead = true;
    this.bytes = NO_BYTES;
    this.ends = NO_ENDS;
  }

  get live(): number {
    return this.count - this.head;
  }

  text(k: number): string {
    return lineText(this.bytes, this.ends, k);
  }

  record(k: number, text: string = this.text(k)): LogRecord {
    return {
      seq: this.seq + k,
      time: this.time,
      service: this.source.label,
      stream: this.stream,
      line: text,
    };
  }
}

export class Source {
  readonly slabs: (Slab | undefined)[] = [];
  first = 0;
  lines = 0;
  bytes = 0;
  /** Positions in the two heaps. */
  atLines = -1;
  atBytes = -1;

  constructor(readonly label: string) {}

  oldest(): Slab | undefined {
    return this.slabs[this.first];
  }
}

/** A binary max-heap of sources with positions stored on them, so a changed key is fixed in O(log n). */
class SourceHeap {
  private readonly items: Source[] = [];

  constructor(
    private readonly key: (s: Source) => number,
    private readonly slot: "atLines" | "atBytes",
  ) {}

  top(): Source | undefined {
    return this.items[0];
  }

  /** The largest key below the top. */
  runnerUp(): number {
    const a = this.items[1];
    const b = this.items[2];
    return Math.max(a ? this.key(a) : 0, b ? this.key(b) : 0);
  }

  insert(s: Source): void {
    s[this.slot] = this.items.length;
    this.items.push(s);
    this.up(this.items.length - 1);
  }

  update(s: Source): void {
    const i = s[this.slot];
    if (i < 0) return;
    this.up(i);
    this.down(s[this.slot]);
  }

  remove(s: Source): void {
    const i = s[this.slot];
    if (i < 0) return;
    const last = this.items.pop() as Source;
    s[this.slot] = -1;
    if (last === s) return;
    this.items[i] = last;
    last[this.slot] = i;
    this.up(i);
    this.down(last[this.slot]);
  }

  private up(i: number): void {
    const items = this.items;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.key(items[parent] as Source) >= this.key(items[i] as Source)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const items = this.items;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let big = i;
      if (l < items.length && this.key(items[l] as Source) > this.key(items[big] as Source))
        big = l;
      if (r < items.length && this.key(items[r] as Source) > this.key(items[big] as Source))
        big = r;
      if (big === i) return;
      this.swap(i, big);
      i = big;
    }
  }

  private swap(i: number, j: number): void {
    const a = this.items[i] as Source;
    const b = this.items[j] as Source;
    this.items[i] = b;
    this.items[j] = a;
    a[this.slot] = j;
    b[this.slot] = i;
  }
}

interface LineSubscriber {
  readonly prefix: string | undefined;
  readonly listener: (line: string) => void;
  active: boolean;
}

interface RecordSubscriber {
  readonly filter: RecordFilter;
  readonly listener: FollowListener;
  active: boolean;
}

interface RingOptions {
  /** Most lines kept (`init -b`); at least 1. */
  lines: number;
  /** Most bytes kept (`init --buffer-bytes`); at least MIN_BUFFER_BYTES. */
  bytes?: number;
  /** Wall-clock milliseconds, stamped on every line stored. */
  clock?: () => number;
}

/** Upstream's `[+] label: text` filter decided from the label alone where it can be. */
function upstreamMatcher(prefix: string, label: string): boolean | ((text: string) => boolean) {
  const head = `${label}: `;
  if (head.length >= prefix.length) return head.startsWith(prefix);
  if (!prefix.startsWith(head)) return false;
  const rest = prefix.slice(head.length);
  return (text) => text.startsWith(rest);
}

export class LogRing {
  readonly capacity: number;
  readonly byteCapacity: number;
  private readonly clock: () => number;
  private readonly sources = new Map<string, Source>();
  private readonly byLines = new SourceHeap((s) => s.lines, "atLines");
  private readonly byBytes = new SourceHeap((s) => s.bytes, "atBytes");
  /** Every slab in sequence order; dead ones are skipped and compacted away from time to time. */
  private order: Slab[] = [];
  private orderHead = 0;
  private liveSlabs = 0;
  private lineCount = 0;
  private byteCount = 0;
  private nextSeq = 1;
  /** Replaced, never mutated, so a delivery loop is unaffected by (un)subscribes it triggers. */
  private lineSubs: readonly LineSubscriber[] = [];
  private recordSubs: readonly RecordSubscriber[] = [];
  private delivering = false;
  private readonly pending: Array<() => void> = [];
  private ended: string | null = null;

  constructor(opts: RingOptions | number) {
    const o = typeof opts === "number" ? { lines: opts } : opts;
    // Upstream panics on `--buffer 0`; keeping at least the newest line is the sane reading.
    this.capacity = Number.isFinite(o.lines) ? Math.max(1, Math.floor(o.lines)) : 1;
    const bytes = o.bytes ?? DEFAULT_BUFFER_BYTES;
    this.byteCapacity = Number.isFinite(bytes)
      ? Math.max(MIN_BUFFER_BYTES, Math.floor(bytes))
      : DEFAULT_BUFFER_BYTES;
    this.clock = o.clock ?? Date.now;
  }

  /** Lines held now. */
  get lines(): number {
    return this.lineCount;
  }

  /** Bytes held now (slabs and their bookkeeping). */
  get bytes(): number {
    return this.byteCount;
  }

  /** Sequence number of the newest line stored (0 before the first). */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Lines of one label held now. */
  linesOf(label: string): number {
    return this.sources.get(label)?.lines ?? 0;
  }

  /**
   * Stores a batch of lines read at `time` and hands each to every matching subscriber before
   * returning. A push made by a listener (e.g. a log message about a line) is queued and stored
   * after the current batch is delivered to everyone, so all subscribers and snapshots see one order.
   */
  append(label: string, stream: Stream, batch: LineBatch, time: number = this.clock()): void {
    if (batch.ends.length === 0) return;
    if (this.delivering) {
      this.pending.push(() => this.store(label, stream, batch, time));
      return;
    }
    this.delivering = true;
    try {
      this.store(label, stream, batch, time);
      for (let i = 0; i < this.pending.length; i++) (this.pending[i] as () => void)();
    } finally {
      this.pending.length = 0;
      this.delivering = false;
    }
  }

  /** Stores one line of text (zinit's own messages, separators), stamped now. */
  pushText(label: string, stream: Stream, text: string): void {
    const batch = textBatch(text);
    if (batch) this.append(label, stream, batch);
  }

  /**
   * Upstream's lines, oldest first; with a name, only that service's own lines (see
   * `matchesFilter`). Only the newest lines whose JSON fits in `maxBytes` are returned.
   */
  snapshot(name?: string, maxBytes: number = Number.POSITIVE_INFINITY): string[] {
    const out: string[] = [];
    const prefix = name === undefined ? undefined : `${name}:`;
    let size = 2;
    for (let i = this.order.length - 1; i >= this.orderHead; i--) {
      const slab = this.order[i] as Slab;
      if (slab.dead) continue;
      const label = slab.source.label;
      const match = prefix === undefined ? true : upstreamMatcher(prefix, label);
      if (match === false) continue;
      for (let k = slab.count - 1; k >= slab.head; k--) {
        const text = slab.text(k);
        if (match !== true && !match(text)) continue;
        const line = formatLine(label, slab.stream, text);
        if (maxBytes !== Number.POSITIVE_INFINITY) {
          size += Buffer.byteLength(JSON.stringify(line)) + 1;
          if (size > maxBytes) return out.reverse();
        }
        out.push(line);
      }
    }
    return out.reverse();
  }

  /**
   * Calls `listener` synchronously, inside the store, with every new line matching upstream's
   * filter, in upstream's format. Listeners must not block: a slow consumer (a network follower)
   * queues or drops on its own side. A listener that throws is removed. Returns the unsubscribe
   * function (idempotent).
   */
  subscribe(name: LogFilter, listener: (line: string) => void): () => void {
    const sub: LineSubscriber = {
      prefix: name === undefined ? undefined : `${name}:`,
      listener,
      active: true,
    };
    this.lineSubs = [...this.lineSubs, sub];
    return () => {
      if (!sub.active) return;
      sub.active = false;
      this.lineSubs = this.lineSubs.filter((s) => s !== sub);
    };
  }

  /**
   * The backlog and the live feed with no line lost or repeated between them: both happen in one
   * synchronous step, and a line pushed while delivering is stored only after this returns.
   */
  snapshotAndSubscribe(
    name: LogFilter,
    listener: (line: string) => void,
  ): { lines: string[]; unsubscribe: () => void } {
    return { lines: this.snapshot(name), unsubscribe: this.subscribe(name, listener) };
  }

  /**
   * Every new line matching `filter`, as a record, synchronously inside the store (same rules as
   * `subscribe`). Once the ring has ended (zinit is stopping), `end` is called at once.
   */
  follow(filter: RecordFilter, listener: FollowListener): () => void {
    const sub: RecordSubscriber = { filter, listener, active: true };
    if (this.ended !== null) {
      listener.end(this.ended);
      return () => {};
    }
    this.recordSubs = [...this.recordSubs, sub];
    return () => this.unfollow(sub);
  }

  /** Tells every follower that no more lines will come; later followers are told at once. */
  end(reason: string): void {
    if (this.ended !== null) return;
    this.ended = reason;
    const subs = this.recordSubs;
    this.recordSubs = [];
    for (const sub of subs) {
      if (!sub.active) continue;
      sub.active = false;
      try {
        sub.listener.end(reason);
      } catch {
        // It is going away either way.
      }
    }
  }

  /** The live slabs holding lines with sequence numbers in [from, to], oldest first. */
  slabsBetween(from: number, to: number): Slab[] {
    const order = this.order;
    let lo = this.orderHead;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const s = order[mid] as Slab;
      if (s.seq + s.count - 1 < from) lo = mid + 1;
      else hi = mid;
    }
    const out: Slab[] = [];
    for (let i = lo; i < order.length; i++) {
      const s = order[i] as Slab;
      if (s.seq > to) break;
      if (!s.dead) out.push(s);
    }
    return out;
  }

  // ---- storing and evicting -----------------------------------------------------------------

  private store(label: string, stream: Stream, batch: LineBatch, time: number): void {
    let source = this.sources.get(label);
    if (!source) {
      source = new Source(label);
      this.sources.set(label, source);
      this.byLines.insert(source);
      this.byBytes.insert(source);
    }
    const slab = new Slab(source, stream, batch.bytes, batch.ends, this.nextSeq, time);
    this.nextSeq += slab.count;
    source.slabs.push(slab);
    source.lines += slab.count;
    source.bytes += slab.cost;
    this.byLines.update(source);
    this.byBytes.update(source);
    this.order.push(slab);
    this.liveSlabs++;
    this.lineCount += slab.count;
    this.byteCount += slab.cost;
    if (this.lineSubs.length > 0 || this.recordSubs.length > 0) this.deliver(slab);
    this.trim();
  }

  private trim(): void {
    while (this.lineCount > this.capacity) {
      const source = this.byLines.top() as Source;
      const slab = source.oldest() as Slab;
      const over = this.lineCount - this.capacity;
      // Down to the runner-up at most, so ties are shared out line by line.
      const n = Math.max(1, Math.min(over, slab.live, source.lines - this.byLines.runnerUp()));
      slab.head += n;
      source.lines -= n;
      this.lineCount -= n;
      if (slab.live === 0) this.dropOldest(source);
      else this.byLines.update(source);
    }
    // The newest read stays even if it alone is over budget, so the newest lines survive.
    const newest = this.order[this.order.length - 1];
    while (this.byteCount > this.byteCapacity) {
      const source = this.byBytes.top() as Source;
      if (source.oldest() === newest) break;
      this.dropOldest(source);
    }
  }

  /** Frees a source's oldest slab, with whatever lines it still holds. */
  private dropOldest(source: Source): void {
    const slab = source.oldest() as Slab;
    source.slabs[source.first] = undefined;
    source.first++;
    if (source.first > 64 && source.first * 2 > source.slabs.length) {
      source.slabs.splice(0, source.first);
      source.first = 0;
    }
    const live = slab.live;
    slab.release();
    source.lines -= live;
    source.bytes -= slab.cost;
    this.lineCount -= live;
    this.byteCount -= slab.cost;
    this.liveSlabs--;
    if (source.first === source.slabs.length) {
      // Nothing left: forget the source, so labels of long-gone services cost nothing.
      this.sources.delete(source.label);
      this.byLines.remove(source);
      this.byBytes.remove(source);
    } else {
      this.byLines.update(source);
      this.byBytes.update(source);
    }
    this.compactOrder();
  }

  private compactOrder(): void {
    const order = this.order;
    while (this.orderHead < order.length && (order[this.orderHead] as Slab).dead) {
      (order as (Slab | undefined)[])[this.orderHead] = undefined;
      this.orderHead++;
    }
    const dead = order.length - this.orderHead - this.liveSlabs;
    if (this.orderHead > 1024 && this.orderHead * 2 > order.length) {
      this.order = order.slice(this.orderHead);
      this.orderHead = 0;
    } else if (dead > 1024 && dead > this.liveSlabs) {
      this.order = order.slice(this.orderHead).filter((s) => !s.dead);
      this.orderHead = 0;
    }
  }

  // ---- delivering -----------------------------------------------------------------------------

  private deliver(slab: Slab): void {
    const label = slab.source.label;
    const texts: string[] = new Array(slab.count);
    const text = (k: number) => {
      let t = texts[k];
      if (t === undefined) {
        t = slab.text(k);
        texts[k] = t;
      }
      return t;
    };
    for (const sub of this.lineSubs) {
      if (!sub.active) continue;
      const match = sub.prefix === undefined ? true : upstreamMatcher(sub.prefix, label);
      if (match === false) continue;
      for (let k = 0; k < slab.count && sub.active; k++) {
        const t = text(k);
        if (match !== true && !match(t)) continue;
        try {
          sub.listener(formatLine(label, slab.stream, t));
        } catch {
          sub.active = false;
          this.lineSubs = this.lineSubs.filter((s) => s !== sub);
        }
      }
    }
    for (const sub of this.recordSubs) {
      if (!sub.active) continue;
      if (sub.filter.names && !sub.filter.names.has(label)) continue;
      for (let k = 0; k < slab.count && sub.active; k++) {
        const t = text(k);
        if (sub.filter.grep && !sub.filter.grep(t)) continue;
        try {
          sub.listener.line(slab.record(k, t));
        } catch {
          this.unfollow(sub);
        }
      }
    }
  }

  private unfollow(sub: RecordSubscriber): void {
    if (!sub.active) return;
    sub.active = false;
    this.recordSubs = this.recordSubs.filter((s) => s !== sub);
  }
}
