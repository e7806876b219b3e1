// The one global log ring (upstream `manager/buffer.rs`): the last N lines of every ring-logged
// service, the test commands, and zinit's own messages, with live subscribers for followers.

/** A service name to keep only that service's lines, or `undefined` for every line. */
export type LogFilter = string | undefined;

/**
 * Upstream's filter: the text after the 4-character `[+] `/`[-] ` prefix starts with `<name>:`.
 * So `name` excludes `name/test` lines and zinit's own lines, and is not a substring match.
 */
export function matchesFilter(line: string, name: LogFilter): boolean {
  return name === undefined || line.startsWith(`${name}:`, 4);
}

interface Subscriber {
  readonly prefix: string | undefined;
  readonly listener: (line: string) => void;
  active: boolean;
}

export class LogRing {
  readonly capacity: number;
  /** Grows up to `capacity`, then `next` overwrites the oldest slot in place. */
  private readonly lines: string[] = [];
  private next = 0;
  /** Replaced, never mutated, so a delivery loop is unaffected by (un)subscribes it triggers. */
  private subscribers: readonly Subscriber[] = [];
  private delivering = false;
  private readonly pending: string[] = [];

  constructor(capacity: number) {
    // Upstream panics on `--buffer 0`; keeping at least the newest line is the sane reading.
    this.capacity = Number.isFinite(capacity) ? Math.max(1, Math.floor(capacity)) : 1;
  }

  /**
   * Stores the line and hands it to every matching subscriber before returning. O(1) plus one call
   * per subscriber. A push made by a listener (e.g. a log message about a line) is queued and
   * stored after the current line is delivered to everyone, so all subscribers and snapshots see
   * one order.
   */
  push(line: string): void {
    if (this.delivering) {
      this.pending.push(line);
      return;
    }
    this.delivering = true;
    try {
      this.store(line);
      for (let i = 0; i < this.pending.length; i++) this.store(this.pending[i]!);
    } finally {
      this.pending.length = 0;
      this.delivering = false;
    }
  }

  /** Lines oldest first; with a name, only that service's own lines (see `matchesFilter`). */
  snapshot(name?: string): string[] {
    const ordered =
      this.lines.length < this.capacity
        ? this.lines.slice()
        : this.lines.slice(this.next).concat(this.lines.slice(0, this.next));
    return name === undefined ? ordered : ordered.filter((line) => matchesFilter(line, name));
  }

  /**
   * Calls `listener` synchronously, inside `push`, with every new matching line. Listeners must
   * not block: a slow consumer (a network follower) queues or drops on its own side. A listener
   * that throws is removed. Returns the unsubscribe function (idempotent).
   */
  subscribe(name: LogFilter, listener: (line: string) => void): () => void {
    const sub: Subscriber = {
      prefix: name === undefined ? undefined : `${name}:`,
      listener,
      active: true,
    };
    this.subscribers = [...this.subscribers, sub];
    return () => this.remove(sub);
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

  private store(line: string): void {
    if (this.lines.length < this.capacity) this.lines.push(line);
    else this.lines[this.next] = line;
    this.next = (this.next + 1) % this.capacity;
    for (const sub of this.subscribers) {
      if (!sub.active || (sub.prefix !== undefined && !line.startsWith(sub.prefix, 4))) continue;
      try {
        sub.listener(line);
      } catch {
        this.remove(sub);
      }
    }
  }

  private remove(sub: Subscriber): void {
    if (!sub.active) return;
    sub.active = false;
    this.subscribers = this.subscribers.filter((s) => s !== sub);
  }
}
