// Log queries over the ring: which lines (names, time window, pattern, the last N), in pages a
// client continues with a cursor, so no reply grows with the ring. A query reads the ring in
// slices of a few milliseconds with the event loop running in between, and queries run one at a
// time, so a pattern over a large ring never stalls the daemon (the slabs a running query reads
// stay alive until it finishes: at most one ring's worth).

import type { LogRecord, LogRing, RecordFilter, Slab } from "./ring.ts";

/** Most records in one reply, and most characters of line text. */
export const PAGE_RECORDS = 5000;
const PAGE_CHARS = 1024 * 1024;
const SLICE_MS = 5;

export interface LogQuery extends RecordFilter {
  /** Only the last this many matching lines. */
  lines?: number;
  /** Read between these wall-clock times (ms), inclusive. */
  since?: number;
  until?: number;
  /** Continue after this sequence number (the `next` of the previous page). */
  after?: number;
  /** Stop at this sequence number (the `to` of the first page): the end of the snapshot. */
  to?: number;
  /** Most records in this reply (at most PAGE_RECORDS). */
  limit?: number;
}

export interface QueryResult {
  records: LogRecord[];
  /** Pass as `after` (with `to`) for the rest; null when this page ends the answer. */
  next: number | null;
  /** The newest sequence number the answer covers. */
  to: number;
}

/** Yields to the event loop when a slice of work is used up. */
class Slicer {
  private began = performance.now();
  private count = 0;

  async tick(): Promise<void> {
    if (++this.count % 256 !== 0 || performance.now() - this.began < SLICE_MS) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.began = performance.now();
  }
}

export class LogQueries {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly ring: LogRing) {}

  /** Runs one query after those already asked for. */
  run(q: LogQuery): Promise<QueryResult> {
    const result = this.queue.then(() => this.execute(q));
    this.queue = result.catch(() => {});
    return result;
  }

  private async execute(q: LogQuery): Promise<QueryResult> {
    const to = Math.min(q.to ?? this.ring.lastSeq, this.ring.lastSeq);
    const from = (q.after ?? 0) + 1;
    const limit = Math.max(1, Math.min(q.limit ?? PAGE_RECORDS, PAGE_RECORDS));
    const slabs = this.ring.slabsBetween(from, to).filter((slab) => this.slabMatches(slab, q));
    const range = (slab: Slab): [number, number] => [
      Math.max(slab.head, from - slab.seq),
      Math.min(slab.count, to - slab.seq + 1),
    ];
    const slicer = new Slicer();
    if (q.lines !== undefined && q.after === undefined) {
      return this.tail(slabs, range, q, limit, to, slicer);
    }
    const page = new Page(limit);
    for (const slab of slabs) {
      const [lo, hi] = range(slab);
      for (let k = lo; k < hi; k++) {
        await slicer.tick();
        if (slab.dead) break;
        const text = slab.text(k);
        if (q.grep && !q.grep(text)) continue;
        if (!page.add(slab.record(k, text))) return page.result(to, true);
      }
    }
    return page.result(to, false);
  }

  /** The last `q.lines` matches, found newest first, answered oldest first from the first page. */
  private async tail(
    slabs: Slab[],
    range: (slab: Slab) => [number, number],
    q: LogQuery,
    limit: number,
    to: number,
    slicer: Slicer,
  ): Promise<QueryResult> {
    const want = Math.max(0, Math.floor(q.lines as number));
    const found: Array<{ slab: Slab; k: number }> = [];
    outer: for (let i = slabs.length - 1; i >= 0 && found.length < want; i--) {
      const slab = slabs[i] as Slab;
      const [lo, hi] = range(slab);
      for (let k = hi - 1; k >= lo; k--) {
        await slicer.tick();
        if (slab.dead) break;
        const text = slab.text(k);
        if (q.grep && !q.grep(text)) continue;
        found.push({ slab, k });
        if (found.length >= want) break outer;
      }
    }
    found.reverse();
    const page = new Page(limit);
    for (const f of found) {
      if (f.slab.dead || f.k < f.slab.head) continue;
      if (!page.add(f.slab.record(f.k))) return page.result(to, true);
    }
    return page.result(to, false);
  }

  private slabMatches(slab: Slab, q: LogQuery): boolean {
    if (q.names && !q.names.has(slab.source.label)) return false;
    if (q.since !== undefined && slab.time < q.since) return false;
    if (q.until !== undefined && slab.time > q.until) return false;
    return true;
  }
}

class Page {
  readonly records: LogRecord[] = [];
  private chars = 0;

  constructor(private readonly limit: number) {}

  /** False (and the record not taken) when the page is full. */
  add(record: LogRecord): boolean {
    if (
      this.records.length >= this.limit ||
      (this.records.length > 0 && this.chars + record.line.length > PAGE_CHARS)
    ) {
      return false;
    }
    this.records.push(record);
    this.chars += record.line.length;
    return true;
  }

  result(to: number, more: boolean): QueryResult {
    const last = this.records[this.records.length - 1];
    return { records: this.records, next: more && last ? last.seq : null, to };
  }
}
