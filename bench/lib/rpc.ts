// Minimal JSON-RPC clients for the zinit control-plane figures: newline-framed over the unix
// socket, and HTTP/1.1 keep-alive with pipelining over loopback TCP.

import type { Socket } from "bun";
import { percentile } from "./util.ts";

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/** One persistent connection; replies are matched by id since zinit may reorder them. */
export class RpcClient {
  private buffer = "";
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private socket: Socket | null = null;

  static async connect(path: string): Promise<RpcClient> {
    const client = new RpcClient();
    client.socket = await Bun.connect({
      unix: path,
      socket: {
        data: (_s, chunk) => client.onData(chunk.toString()),
        close: () => client.failAll(new Error(`connection to ${path} closed`)),
        error: (_s, err) => client.failAll(err),
      },
    });
    return client;
  }

  call(method: string, params: unknown[] = [], timeoutMs = 10_000): Promise<unknown> {
    const id = this.nextId++;
    const text = `${JSON.stringify({ jsonrpc: "2.0", id, method, params })}\n`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.socket?.write(text);
    });
  }

  close(): void {
    this.socket?.end();
    this.socket = null;
  }

  private onData(text: string): void {
    this.buffer += text;
    let nl = this.buffer.indexOf("\n");
    while (nl >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      nl = this.buffer.indexOf("\n");
      let msg: { id?: number; result?: unknown; error?: { message?: string } };
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      const waiter = msg.id === undefined ? undefined : this.pending.get(msg.id);
      if (!waiter || msg.id === undefined) continue;
      this.pending.delete(msg.id);
      if (msg.error) waiter.reject(new Error(msg.error.message ?? JSON.stringify(msg.error)));
      else waiter.resolve(msg.result);
    }
  }

  private failAll(err: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
  }
}

/** Sequential round trips of one request; microseconds at p50 and p99. */
export async function roundTrips(
  path: string,
  method: string,
  params: unknown[],
  count: number,
): Promise<{ p50: number; p99: number }> {
  const client = await RpcClient.connect(path);
  try {
    for (let i = 0; i < Math.min(100, count); i++) await client.call(method, params);
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await client.call(method, params);
      samples.push((performance.now() - t0) * 1000);
    }
    return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
  } finally {
    client.close();
  }
}

/**
 * Keeps `window` requests in flight on each of `connections` connections for `durationMs`;
 * resolves to completed requests per second. `frame` turns received bytes into a count of
 * complete replies, so the same driver serves newline-framed RPC and HTTP.
 */
async function pipelined(
  open: (handlers: { data(chunk: string): void; close(): void }) => Promise<Socket>,
  request: string,
  makeFramer: () => (chunk: string) => number,
  connections: number,
  window: number,
  durationMs: number,
): Promise<number> {
  let done = 0;
  let stopAt = Number.POSITIVE_INFINITY;
  const t0 = performance.now();
  const finished: Promise<void>[] = [];
  for (let c = 0; c < connections; c++) {
    const framer = makeFramer();
    let inFlight = 0;
    let socket: Socket | null = null;
    let settle: () => void = () => {};
    finished.push(
      new Promise<void>((resolve) => {
        settle = resolve;
      }),
    );
    socket = await open({
      data(chunk) {
        const replies = framer(chunk);
        done += replies;
        inFlight -= replies;
        if (performance.now() < stopAt) {
          socket?.write(request.repeat(window - inFlight));
          inFlight = window;
        } else if (inFlight <= 0) {
          socket?.end();
          settle();
        }
      },
      close: () => settle(),
    });
    socket.write(request.repeat(window));
    inFlight = window;
  }
  stopAt = t0 + durationMs;
  // Every connection drains its last window, or gives up after a generous grace period.
  await Promise.race([Promise.all(finished), Bun.sleep(durationMs + 10_000)]);
  return done / ((performance.now() - t0) / 1000);
}

export function rpcRequest(method: string, params: unknown[]): string {
  return `${JSON.stringify({ jsonrpc: "2.0", id: 1, method, params })}\n`;
}

export function socketThroughput(
  path: string,
  method: string,
  params: unknown[],
  connections: number,
  window: number,
  durationMs: number,
): Promise<number> {
  const countLines = () => (chunk: string) => {
    let n = 0;
    for (let i = chunk.indexOf("\n"); i >= 0; i = chunk.indexOf("\n", i + 1)) n++;
    return n;
  };
  return pipelined(
    (h) =>
      Bun.connect({
        unix: path,
        socket: { data: (_s, d) => h.data(d.toString()), close: () => h.close() },
      }),
    rpcRequest(method, params),
    countLines,
    connections,
    window,
    durationMs,
  );
}

/** Counts complete HTTP/1.1 responses (Content-Length or chunked bodies) in a byte stream. */
export function httpFramer(): (chunk: string) => number {
  let buffer = "";
  return (chunk) => {
    buffer += chunk;
    let count = 0;
    for (;;) {
      const headEnd = buffer.indexOf("\r\n\r\n");
      if (headEnd < 0) break;
      const head = buffer.slice(0, headEnd).toLowerCase();
      const length = /content-length:\s*(\d+)/.exec(head);
      let end: number;
      if (length) {
        end = headEnd + 4 + Number(length[1]);
        if (buffer.length < end) break;
      } else if (head.includes("transfer-encoding: chunked")) {
        const last = buffer.indexOf("\r\n0\r\n\r\n", headEnd);
        if (last < 0) break;
        end = last + 7;
      } else {
        end = headEnd + 4;
      }
      buffer = buffer.slice(end);
      count++;
    }
    return count;
  };
}

export function httpThroughput(
  port: number,
  method: string,
  params: unknown[],
  connections: number,
  window: number,
  durationMs: number,
): Promise<number> {
  const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method, params });
  const request =
    `POST / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  return pipelined(
    (h) =>
      Bun.connect({
        hostname: "127.0.0.1",
        port,
        socket: { data: (_s, d) => h.data(d.toString()), close: () => h.close() },
      }),
    request,
    httpFramer,
    connections,
    window,
    durationMs,
  );
}
