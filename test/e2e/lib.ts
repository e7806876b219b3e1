// Clients and expected-value builders shared by the end-to-end tests against the compiled daemon.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import type { Zinit } from "../helpers/zinit.ts";

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
    const deadline = Date.now() + TIMEOUT;
    for (;;) {
      const hit = this.messages.slice(from).find(pred);
      if (hit) return hit;
      if (Date.now() > deadline || this.sock.destroyed) {
        throw new Error(`no ${what}; got ${JSON.stringify(this.lines)}`);
      }
      await new Promise<void>((resolve) => {
        this.wake.push(resolve);
        setTimeout(resolve, 250);
      });
    }
  }

  async count(n: number): Promise<Reply[]> {
    await this.find(() => this.lines.length >= n, `${n} lines`);
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

/** One request on a fresh connection; resolves to the whole reply object. */
export async function ask(socket: string, method: string, params?: unknown): Promise<Reply> {
  const c = new Conn(socket);
  try {
    return await c.call(1, method, params);
  } finally {
    c.close();
  }
}

/** Writes `input` on a fresh connection and returns everything received until the server closes. */
export function askRaw(
  socket: string,
  input: string | Uint8Array,
  halfClose = false,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect(socket, () => {
      if (halfClose) sock.end(input);
      else sock.write(input);
    });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no EOF after ${JSON.stringify(String(input)).slice(0, 200)}`));
    }, TIMEOUT);
    sock.on("data", (d: Buffer) => chunks.push(d));
    sock.on("error", () => {});
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
  });
}

/** Namespace pid (as the daemon reports it) → host pid, for every process in the daemon's namespace. */
export function nsPids(z: Zinit): Map<number, { host: number; comm: string }> {
  const out = new Map<number, { host: number; comm: string }>();
  for (const p of z.namespaceProcs()) {
    try {
      const status = readFileSync(`/proc/${p.pid}/status`, "utf8");
      const ns = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/);
      if (ns) out.set(Number(ns[ns.length - 1]), { host: p.pid, comm: p.comm });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export const readText = (file: string) => (existsSync(file) ? readFileSync(file, "utf8") : "");

export const listDir = (dir: string) => readdirSync(dir).sort();

/** A TCP port nobody listens on right now. */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/**
 * Waits until the daemon's collected stdout+stderr matches `re`: `exited` can resolve before the
 * last bytes of its pipes have been read.
 */
export async function outputMatches(z: Zinit, re: RegExp): Promise<void> {
  await z.waitFor(() => re.test(z.output), TIMEOUT, `daemon output matching ${re}`);
}
