// A minimal JSON-RPC 2.0 client over the daemon's unix socket: one connection, newline-delimited
// compact JSON both ways, replies matched by id (the server may answer out of order), and at most
// one subscription whose notifications go to a callback.

import { getSystemErrorMessage } from "node:util";
import type { Socket } from "bun";
import { concat } from "../bytes.ts";
import { isRecord } from "../values.ts";

/** An error object the daemon answered with; `message` is what the user sees. */
export class DaemonError extends Error {
  override name = "DaemonError";
  constructor(
    readonly code: number,
    message: string,
    readonly data: unknown,
  ) {
    super(message);
  }
}

type TransportFailure = "connect" | "closed" | "timeout" | "protocol";

/** Anything that went wrong below the RPC layer. */
export class TransportError extends Error {
  override name = "TransportError";
  constructor(
    readonly kind: TransportFailure,
    message: string,
  ) {
    super(message);
  }
}

interface ClientOptions {
  /** How long one call may wait for its reply; 0 waits forever. */
  timeoutMs: number;
  /** Receives every line sent (`--> …`) and received (`<-- …`), for `--debug`. */
  trace?: (line: string) => void;
}

interface Pending {
  method: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

interface Subscription {
  method: string;
  id?: unknown;
  onItem(item: unknown): void;
}

/** Replies are capped at 10 MiB by the daemon; anything far beyond that is not a sane peer. */
const MAX_LINE_BYTES = 64 * 1024 * 1024;
const NEWLINE = 0x0a;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function systemErrorText(err: unknown): string {
  const e = err as { errno?: unknown; code?: unknown; message?: unknown };
  if (typeof e?.errno === "number") {
    const text = getSystemErrorMessage(e.errno);
    if (text) return text.charAt(0).toUpperCase() + text.slice(1);
  }
  if (typeof e?.code === "string") return e.code;
  return typeof e?.message === "string" ? e.message : String(err);
}

function connectMessage(path: string, err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  const hint = code === "ENOENT" || code === "ECONNREFUSED" ? " (is zinit init running?)" : "";
  return `cannot connect to ${path}: ${systemErrorText(err)}${hint}`;
}

export class RpcClient {
  private socket: Socket<undefined> | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private partial: Uint8Array[] = [];
  private partialBytes = 0;
  private outbox: Uint8Array | null = null;
  private subscription: Subscription | null = null;
  private failure: Error | null = null;
  private resolveClosed!: (reason: Error) => void;
  /** Resolves with the reason once the connection is gone, for whatever cause. */
  readonly closed: Promise<Error>;

  private constructor(
    readonly path: string,
    private readonly options: ClientOptions,
  ) {
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
  }

  static async connect(path: string, options: ClientOptions): Promise<RpcClient> {
    const client = new RpcClient(path, options);
    // Bun calls these from its event loop: an exception here would be uncaught, so every handler
    // funnels failures into `fail`.
    try {
      client.socket = await Bun.connect({
        unix: path,
        socket: {
          data: (_socket, chunk) => client.guard(() => client.onData(chunk)),
          drain: () => client.guard(() => client.flush()),
          close: () => client.fail(new TransportError("closed", "connection closed by zinit")),
          end: () => client.fail(new TransportError("closed", "connection closed by zinit")),
          error: (_socket, err) =>
            client.fail(
              new TransportError("closed", `connection to zinit failed: ${systemErrorText(err)}`),
            ),
        },
      });
    } catch (err) {
      throw new TransportError("connect", connectMessage(path, err));
    }
    return client;
  }

  /**
   * Calls `method` with positional params; resolves with `result`, rejects with DaemonError or
   * TransportError. `timeoutMs` overrides the client's default (0 waits forever).
   */
  call(
    method: string,
    params: unknown[] | Record<string, unknown> = [],
    timeoutMs = this.options.timeoutMs,
  ): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              this.pending.delete(id);
              const seconds = timeoutMs / 1000;
              reject(new TransportError("timeout", `no reply to ${method} within ${seconds} s`));
            }, timeoutMs)
          : undefined;
      this.pending.set(id, { method, resolve, reject, timer });
      this.send({ jsonrpc: "2.0", id, method, params });
    });
  }

  /**
   * Subscribes; `onItem` receives each notification's `result`, including any that arrive before
   * the subscription id does. Resolves with the subscription id.
   */
  async subscribe(
    method: string,
    params: unknown[] | Record<string, unknown>,
    onItem: (item: unknown) => void,
  ): Promise<unknown> {
    const subscription: Subscription = { method, onItem };
    this.subscription = subscription;
    subscription.id = await this.call(method, params);
    return subscription.id;
  }

  close(): void {
    this.socket?.end();
  }

  private send(message: unknown): void {
    const text = JSON.stringify(message);
    this.options.trace?.(`--> ${text}`);
    const bytes = encoder.encode(`${text}\n`);
    this.outbox = this.outbox
      ? concat([this.outbox, bytes], this.outbox.length + bytes.length)
      : bytes;
    this.flush();
  }

  /** Writes what the socket takes now; `drain` calls this again for the rest. */
  private flush(): void {
    if (!this.outbox || !this.socket) return;
    const written = this.socket.write(this.outbox);
    this.outbox = written >= this.outbox.length ? null : this.outbox.subarray(Math.max(0, written));
  }

  private onData(chunk: Uint8Array): void {
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl >= 0; nl = chunk.indexOf(NEWLINE, start)) {
      this.partial.push(chunk.subarray(start, nl));
      const line = decoder.decode(concat(this.partial, this.partialBytes + nl - start));
      this.partial = [];
      this.partialBytes = 0;
      start = nl + 1;
      this.onLine(line);
      if (this.failure) return;
    }
    if (start < chunk.length) {
      // Copied: the chunk's memory may be reused once this handler returns (and Buffer#slice
      // would only make a view).
      this.partial.push(new Uint8Array(chunk.subarray(start)));
      this.partialBytes += chunk.length - start;
      if (this.partialBytes > MAX_LINE_BYTES) {
        this.fail(
          new TransportError("protocol", `reply from zinit exceeds ${MAX_LINE_BYTES} bytes`),
        );
      }
    }
  }

  private onLine(line: string): void {
    if (line.trim() === "") return;
    this.options.trace?.(`<-- ${line}`);
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      this.fail(new TransportError("protocol", `invalid JSON from zinit: ${line.slice(0, 200)}`));
      return;
    }
    if (!isRecord(message)) {
      this.fail(
        new TransportError("protocol", `unexpected message from zinit: ${line.slice(0, 200)}`),
      );
      return;
    }
    if (message.jsonrpc !== "2.0" && "state" in message) {
      this.fail(
        new TransportError(
          "protocol",
          `${this.path} speaks the legacy line protocol of zinit <= 0.2.14, not JSON-RPC`,
        ),
      );
      return;
    }
    if (typeof message.method === "string" && message.id === undefined) {
      this.onNotification(message.method, message.params);
      return;
    }
    if (typeof message.id !== "number") return;
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    clearTimeout(pending.timer);
    if (isRecord(message.error)) {
      const { code, message: text, data } = message.error;
      pending.reject(
        new DaemonError(
          typeof code === "number" ? code : -32603,
          typeof text === "string" ? text : JSON.stringify(message.error),
          data,
        ),
      );
    } else {
      pending.resolve(message.result ?? null);
    }
  }

  private onNotification(method: string, params: unknown): void {
    const sub = this.subscription;
    if (!sub || sub.method !== method || !isRecord(params)) return;
    if (sub.id !== undefined && params.subscription !== sub.id) return;
    sub.onItem(params.result);
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      this.close();
    }
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    for (const [id, pending] of this.pending) {
      this.pending.delete(id);
      clearTimeout(pending.timer);
      pending.reject(
        error instanceof TransportError && error.kind === "closed"
          ? new TransportError(
              "closed",
              `connection closed by zinit before it answered ${pending.method}`,
            )
          : error,
      );
    }
    this.resolveClosed(error);
    if (error instanceof TransportError && error.kind === "protocol") this.close();
  }
}
