// A unix-socket JSON-RPC client that collects reply lines and waits for them by count or content,
// for tests against the in-process server and against the compiled daemon.

import { connect, type Socket } from "node:net";

export const TIMEOUT = 20_000;

export type Reply = {
  jsonrpc: string;
  id?: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
  method?: string;
  params?: { subscription: number; result: string };
};

/** A persistent unix-socket connection that collects reply lines and waits for them by content. */
export class Conn {
  readonly sock: Socket;
  readonly lines: string[] = [];
  readonly closed: Promise<void>;
  private partial = "";
  private wake: (() => void)[] = [];

  constructor(path: string) {
    this.sock = connect(path);
    this.sock.on("data", (d: Buffer) => {
      const parts = (this.partial + d.toString("utf8")).split("\n");
      this.partial = parts.pop() ?? "";
      this.lines.push(...parts);
      this.notify();
    });
    // A reset from the server is a close like any other here; tests assert on what arrived.
    this.sock.on("error", () => {});
    this.closed = new Promise((resolve) =>
      this.sock.on("close", () => {
        this.notify();
        resolve();
      }),
    );
  }

  private notify(): void {
    for (const w of this.wake.splice(0)) w();
  }

  get messages(): Reply[] {
    return this.lines.map((l) => JSON.parse(l) as Reply);
  }

  send(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve) => this.sock.write(data, () => resolve()));
  }

  /** Waits until a message received as line `from` or later satisfies `pred` and returns it. */
  async find(pred: (m: Reply) => boolean, what = "a matching message", from = 0): Promise<Reply> {
    let hit: Reply | undefined;
    await this.until(() => {
      hit = this.messages.slice(from).find(pred);
      return hit !== undefined;
    }, what);
    return hit as Reply;
  }

  /** Re-checks `cond` on every arrival (and every 250 ms) until it holds or the wait is over. */
  private async until(cond: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + TIMEOUT;
    while (!cond()) {
      if (Date.now() > deadline || this.sock.destroyed) {
        throw new Error(`no ${what}; got ${JSON.stringify(this.lines)}`);
      }
      await new Promise<void>((resolve) => {
        this.wake.push(resolve);
        setTimeout(resolve, 250);
      });
    }
  }

  /** Waits for `n` lines in all and returns every message so far. */
  async count(n: number): Promise<Reply[]> {
    await this.until(() => this.lines.length >= n, `${n} lines`);
    return this.messages;
  }

  /** Sends one request and waits for the reply carrying its id. */
  async call(id: number | string, method: string, params?: unknown): Promise<Reply> {
    const req: Record<string, unknown> = { jsonrpc: "2.0", id, method };
    if (params !== undefined) req.params = params;
    await this.send(`${JSON.stringify(req)}\n`);
    return this.find((m) => m.id === id && m.method === undefined, `reply to ${method} #${id}`);
  }

  async waitClosed(): Promise<void> {
    let timer: Timer | undefined;
    await Promise.race([
      this.closed,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("the server did not close")), TIMEOUT);
      }),
    ]);
    clearTimeout(timer);
  }

  close(): void {
    this.sock.destroy();
  }
}
