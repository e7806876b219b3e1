// JSON-RPC 2.0 dispatch for one connection, shaped like jsonrpsee 0.25 on the wire: replies are
// `{"jsonrpc","result"|"error","id"}` in that key order, requests run concurrently and answer as
// they finish (clients match by id), batches answer with one array, notifications get nothing,
// and subscriptions answer with an id and then push `{"method","params":{subscription,result}}`.
// Transports own the bytes (framing, newlines, back-pressure); this owns everything after.

import { isRecord } from "../values.ts";
import {
  ApiError,
  batchReplyTooBig,
  batchTooBig,
  INTERNAL_ERROR,
  internalError,
  invalidRequest,
  methodNotFound,
  parseError,
} from "./errors.ts";
import { laggingFeed } from "./follower.ts";
import { DEFAULT_LIMITS } from "./limits.ts";
import type { MethodTable, SubscribeMethod, Transport, UnsubscribeMethod } from "./methods.ts";

/** Sends one compact JSON text, without a trailing newline. */
export type Send = (message: string) => void;

type Id = string | number | null;

/** jsonrpsee's per-connection default. */
export const MAX_SUBSCRIPTIONS = 1024;

/** A reply, plus what to do once it has been sent (start a subscription's notifications). */
interface Outcome {
  reply: Record<string, unknown>;
  afterSend?: () => void;
  /** Undoes what the request started (a subscription) when its reply cannot be sent. */
  cancel?: () => void;
}

interface Subscription {
  method: string;
  cancel: () => void;
  /** Sends the pending "items dropped" note, if any, once the peer is no longer congested. */
  catchUp: () => void;
}

/** The batch rules; the rest of the limits belong to the transports. */
interface BatchLimits {
  /** Most requests in one batch. */
  maxBatch: number;
  /** Largest reply to one batch, in characters of its JSON text. */
  maxBatchReply: number;
}

const isId = (value: unknown): value is Id =>
  value === null ||
  typeof value === "string" ||
  (typeof value === "number" && Number.isFinite(value));

const success = (id: Id, result: unknown) => ({ jsonrpc: "2.0", result: result ?? null, id });

function failure(id: Id, err: unknown): Record<string, unknown> {
  const error =
    err instanceof ApiError ? err : internalError(err instanceof Error ? err.message : String(err));
  return { jsonrpc: "2.0", error: error.toJSON(), id };
}

/** Random like jsonrpsee's RandomIntegerIdProvider: an integer below 2^53. */
function randomSubscriptionId(): number {
  const words = crypto.getRandomValues(new Uint32Array(2));
  return ((words[0] as number) & 0x1fffff) * 2 ** 32 + (words[1] as number);
}

interface SessionOptions {
  /** False for plain HTTP, where there is no channel for notifications. Default true. */
  subscriptions?: boolean;
  /**
   * True while the peer has too much unread output: subscription items are then dropped and
   * counted, and the count is reported once it catches up, so a slow follower costs no memory.
   */
  congested?: () => boolean;
  /** Default: DEFAULT_LIMITS. */
  batch?: BatchLimits;
  /** Where the requests come from, for methods whose rules depend on it. Default "unix". */
  transport?: Transport;
  /** Aborts when the peer is gone before close() is called (an HTTP client that hung up). */
  signal?: AbortSignal;
}

export class RpcSession {
  private readonly inflight = new Set<Promise<void>>();
  private readonly subs = new Map<number, Subscription>();
  private readonly subscriptions: boolean;
  private readonly congested: () => boolean;
  private readonly batch: BatchLimits;
  private readonly context: { transport: Transport; signal: AbortSignal };
  /** Aborted at close(): methods still waiting for something (service_wait) give up. */
  private readonly gone = new AbortController();
  private closed = false;

  constructor(
    private readonly table: MethodTable,
    private readonly sendRaw: Send,
    opts: SessionOptions = {},
  ) {
    this.subscriptions = opts.subscriptions ?? true;
    this.congested = opts.congested ?? (() => false);
    this.batch = opts.batch ?? DEFAULT_LIMITS;
    this.context = { transport: opts.transport ?? "unix", signal: this.gone.signal };
    opts.signal?.addEventListener("abort", () => this.gone.abort(), { once: true });
  }

  /** One complete JSON text: a request, a notification or a batch. Never rejects. */
  handleText(text: string): Promise<void> {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      this.send({ jsonrpc: "2.0", error: parseError().toJSON(), id: null });
      return Promise.resolve();
    }
    return this.handleValue(value);
  }

  /** An already-parsed JSON value. Never rejects. */
  handleValue(value: unknown): Promise<void> {
    const task = this.dispatch(value).catch(() => {
      // dispatch answers every failure itself; this only keeps a bug from becoming an
      // unhandled rejection in PID 1.
    });
    this.inflight.add(task);
    return task.finally(() => this.inflight.delete(task));
  }

  /** Resolves once every request received so far has been answered. */
  async pending(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** The transport's output queue has emptied: subscribers that missed items are told now. */
  outputEmptied(): void {
    for (const sub of this.subs.values()) sub.catchUp();
  }

  /** The peer is gone: drops its subscriptions, and replies still being computed are discarded. */
  close(): void {
    this.closed = true;
    for (const sub of this.subs.values()) this.cancel(sub);
    this.subs.clear();
    this.gone.abort(new Error("the client is gone"));
  }

  private async dispatch(value: unknown): Promise<void> {
    if (!Array.isArray(value)) {
      const outcome = await this.execute(value);
      if (outcome) {
        this.send(outcome.reply);
        outcome.afterSend?.();
      }
      return;
    }
    if (value.length === 0) {
      this.send(failure(null, invalidRequest()));
      return;
    }
    if (value.length > this.batch.maxBatch) {
      // Refused before any of it runs, as jsonrpsee's batch limit does.
      this.send(failure(null, batchTooBig(this.batch.maxBatch)));
      return;
    }
    const outcomes = (await Promise.all(value.map((item) => this.execute(item)))).filter(
      (o): o is Outcome => o !== null,
    );
    if (outcomes.length === 0 || this.closed) return;
    const text = this.batchText(outcomes);
    if (text === null) {
      // Subscriptions whose ids never reach the client could never be cancelled by it.
      for (const o of outcomes) o.cancel?.();
      this.send(failure(null, batchReplyTooBig(this.batch.maxBatchReply)));
      return;
    }
    this.sendText(text);
    for (const o of outcomes) o.afterSend?.();
  }

  /**
   * The batch reply as one JSON array text, or null once it passes the cap: replies are
   * serialised one by one and counted, so a batch that amplifies is stopped at the cap instead of
   * being built whole (a batch of `rpc.discover` grows by 40 KB per 50-byte item).
   */
  private batchText(outcomes: Outcome[]): string | null {
    const parts: string[] = [];
    let size = 2;
    for (const o of outcomes) {
      const part = this.serialise(o.reply);
      size += part.length + 1;
      if (size > this.batch.maxBatchReply) return null;
      parts.push(part);
    }
    return `[${parts.join(",")}]`;
  }

  /** One request object; null when nothing is to be answered (a notification). */
  private async execute(req: unknown): Promise<Outcome | null> {
    if (!isRecord(req)) return { reply: failure(null, invalidRequest()) };
    const hasId = Object.hasOwn(req, "id");
    if (hasId && !isId(req.id)) return { reply: failure(null, invalidRequest()) };
    const id = hasId ? (req.id as Id) : null;
    if (req.jsonrpc !== "2.0" || typeof req.method !== "string") {
      return { reply: failure(id, invalidRequest()) };
    }
    const method = req.method;
    const def = this.table.get(method);
    if (!hasId) {
      // A notification still runs (JSON-RPC 2.0 §4.1) but is never answered; a subscription
      // could never be addressed, so it is not even started.
      if (def?.kind === "call") await def.call(req.params, this.context).catch(() => {});
      else if (def?.kind === "unsubscribe") this.unsubscribe(def, req.params);
      return null;
    }
    if (!def) return { reply: failure(id, methodNotFound()) };
    switch (def.kind) {
      case "call":
        try {
          return { reply: success(id, await def.call(req.params, this.context)) };
        } catch (err) {
          return { reply: failure(id, err) };
        }
      case "subscribe":
        return this.subscribe(id, method, def, req.params);
      case "unsubscribe":
        if (!this.subscriptions) return { reply: failure(id, noSubscriptions()) };
        return { reply: success(id, this.unsubscribe(def, req.params)) };
    }
  }

  private async subscribe(
    id: Id,
    method: string,
    def: SubscribeMethod,
    params: unknown,
  ): Promise<Outcome> {
    if (!this.subscriptions) return { reply: failure(id, noSubscriptions()) };
    if (this.subs.size >= MAX_SUBSCRIPTIONS) {
      // Not jsonrpsee's -32006: that code means ShuttingDown to zinit clients (upstream #26).
      return {
        reply: failure(
          id,
          new ApiError(
            INTERNAL_ERROR,
            "Too many subscriptions on the connection",
            `Exceeded max limit of ${MAX_SUBSCRIPTIONS}`,
          ),
        ),
      };
    }
    let subId = randomSubscriptionId();
    while (this.subs.has(subId)) subId = randomSubscriptionId();
    // Items that arrive before the reply is out wait, so the client learns the id first.
    let queue: unknown[] | null = [];
    let live = true;
    let stop: (() => void) | null = null;
    const sub: Subscription = {
      method,
      cancel: () => {
        live = false;
        stop?.();
      },
      catchUp: () => catchUp(),
    };
    // Registered before subscribing so concurrent requests (a batch) can't exceed the limit.
    this.subs.set(subId, sub);
    // The envelope is the same for every item: only the item is serialised per notification.
    const head = `{"jsonrpc":"2.0","method":${JSON.stringify(method)},"params":{"subscription":${subId},"result":`;
    const post = (item: unknown) => {
      if (typeof item !== "string") {
        this.send({ jsonrpc: "2.0", method, params: { subscription: subId, result: item } });
        return;
      }
      this.sendText(`${head}${JSON.stringify(item)}}}`);
    };
    // The method's lag note, unless the subscription brings its own.
    let lagged = def.lagged;
    const feed = laggingFeed(this.congested, post, (dropped) => lagged(dropped));
    const catchUp = () => {
      if (live) feed.catchUp();
    };
    const emit = (item: unknown) => {
      if (!live) return;
      if (queue) queue.push(item);
      else feed.push(item);
    };
    try {
      const started = await def.subscribe(params, emit);
      if (typeof started === "function") {
        stop = started;
      } else {
        stop = started.cancel;
        lagged = started.lagged;
      }
    } catch (err) {
      this.subs.delete(subId);
      return { reply: failure(id, err) };
    }
    if (!live || this.closed) {
      // The session was closed before or while subscribing.
      this.subs.delete(subId);
      this.cancel(sub);
    }
    return {
      reply: success(id, subId),
      afterSend: () => {
        const waiting = queue ?? [];
        queue = null;
        for (const item of waiting) emit(item);
      },
      cancel: () => {
        this.subs.delete(subId);
        this.cancel(sub);
      },
    };
  }

  /** jsonrpsee's generated unsubscribe: `[id]`; anything unusable is simply `false`. */
  private unsubscribe(def: UnsubscribeMethod, params: unknown): boolean {
    const subId = Array.isArray(params)
      ? params[0]
      : isRecord(params)
        ? params.subscription
        : undefined;
    if (typeof subId !== "number") return false;
    const sub = this.subs.get(subId);
    if (!sub || sub.method !== def.subscription) return false;
    this.subs.delete(subId);
    this.cancel(sub);
    return true;
  }

  private cancel(sub: Subscription): void {
    try {
      sub.cancel();
    } catch {
      // Unsubscribing from the log ring cannot meaningfully fail; never let it escape.
    }
  }

  private send(message: unknown): void {
    // Nobody to read it: not even worth serialising (a 16 MB log snapshot, say).
    if (this.closed) return;
    this.sendText(this.serialise(message));
  }

  private serialise(message: unknown): string {
    try {
      return JSON.stringify(message);
    } catch (err) {
      // A result that can't be serialised still gets an answer instead of silence.
      const id = isRecord(message) && isId(message.id) ? message.id : null;
      return JSON.stringify(
        failure(id, internalError(err instanceof Error ? err.message : String(err))),
      );
    }
  }

  private sendText(text: string): void {
    if (this.closed) return;
    try {
      this.sendRaw(text);
    } catch {
      // The transport is gone; it closes the session itself.
    }
  }
}

function noSubscriptions(): ApiError {
  return internalError("subscriptions need a WebSocket or the unix socket, not plain HTTP");
}

/**
 * One plain HTTP POST body → the reply text, or null when it held only notifications.
 * Subscriptions answer -32603, as jsonrpsee does over HTTP.
 */
export async function handleHttpBody(
  table: MethodTable,
  body: string,
  batch: BatchLimits = DEFAULT_LIMITS,
  /** The request's: aborts if the client hangs up before the reply. */
  signal?: AbortSignal,
): Promise<string | null> {
  const out: string[] = [];
  const session = new RpcSession(table, (msg) => out.push(msg), {
    subscriptions: false,
    batch,
    transport: "http",
    signal,
  });
  await session.handleText(body);
  await session.pending();
  session.close();
  return out.length > 0 ? out.join("\n") : null;
}
