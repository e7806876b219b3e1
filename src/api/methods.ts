// The JSON-RPC method table: the one way from every transport (unix socket, HTTP, WebSocket) and
// the CLI into the daemon. Each method decodes its params the way upstream's jsonrpsee macros do
// (positional array or named object; docs/upstream.md), checks names before touching the
// daemon or the disk, calls `Control`, and shapes the result and errors as upstream v0.2.28 does.

import { serviceNameError } from "../config/names.ts";
import { ConfigFileError } from "../config/schema.ts";
import { type ServiceStore, StoreError } from "../config/store.ts";
import { shuttingDown, ZinitError } from "../core/errors.ts";
import { parseSignal } from "../core/signals.ts";
import { compileGrep, GrepError } from "../log/grep.ts";
import { type LogQuery, PAGE_RECORDS } from "../log/query.ts";
import type { RecordFilter } from "../log/ring.ts";
import { isRecord } from "../values.ts";
import type {
  Control,
  HttpAccessChange,
  HttpHost,
  ServiceChange,
  ServiceView,
  Transport,
  WaitCondition,
} from "./control.ts";
import {
  CONFIG_ERROR,
  causeChain,
  INTERNAL_ERROR,
  INVALID_PARAMS,
  invalidParams,
  invalidServiceName,
  invalidSignal,
  SERVICE_ALREADY_EXISTS,
  SERVICE_FILE_ERROR,
  SERVICE_NOT_FOUND,
  SHUTTING_DOWN,
  toRpcError,
  zinitRpcError,
} from "./errors.ts";
import { lagLine } from "./follower.ts";
import { parseAddress } from "./http.ts";
import openrpc from "./openrpc.json" with { type: "json" };
import { readiness } from "./readiness.ts";

export type { Transport };

/** What a method knows of its caller. */
interface CallContext {
  transport: Transport;
  /** Aborts when the caller is gone (its connection closed), for methods that wait. */
  signal?: AbortSignal;
}

/** A plain request/response method. Throws ApiError to answer with an error object. */
interface CallMethod {
  kind: "call";
  call(params: unknown, ctx?: CallContext): Promise<unknown>;
}

/** A subscription (jsonrpsee style): the reply is an id, then notifications carry the items. */
export interface SubscribeMethod {
  kind: "subscribe";
  /**
   * Checks the params and starts calling `emit` per item; resolves to the cancel function, or to
   * it and this subscription's own lag note.
   */
  subscribe(
    params: unknown,
    emit: (item: unknown) => void,
  ): Promise<(() => void) | { cancel: () => void; lagged: (dropped: number) => unknown }>;
  /** The item that tells a subscriber too slow to keep up how many items it missed. */
  lagged(dropped: number): unknown;
}

/** Cancels a subscription made by the method named `subscription`; answers true/false. */
export interface UnsubscribeMethod {
  kind: "unsubscribe";
  subscription: string;
}

type MethodDef = CallMethod | SubscribeMethod | UnsubscribeMethod;
export type MethodTable = ReadonlyMap<string, MethodDef>;

/** What `rpc.discover` returns: upstream sends the document as a JSON string, not an object. */
export const OPENRPC_TEXT = JSON.stringify(openrpc, null, 2);

// ---------------------------------------------------------------------------------------------
// Params, decoded as jsonrpsee's generated code does, with serde's texts as `data`.

/** How serde names a JSON value in "invalid type: …" messages. */
function serdeKind(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return `boolean \`${value}\``;
  if (typeof value === "number") {
    return Number.isInteger(value) ? `integer \`${value}\`` : `floating point \`${value}\``;
  }
  if (typeof value === "string") return `string ${JSON.stringify(value)}`;
  if (Array.isArray(value)) return "sequence";
  return "map";
}

/** Reads params in declaration order: positional by index, named by key (snake or camel). */
class Params {
  private index = 0;
  private readonly list: readonly unknown[] | null;
  private readonly named: Record<string, unknown> | null;

  constructor(raw: unknown) {
    if (raw === undefined || raw === null) {
      this.list = [];
      this.named = null;
    } else if (Array.isArray(raw)) {
      this.list = raw;
      this.named = null;
    } else if (isRecord(raw)) {
      this.list = null;
      this.named = raw;
    } else {
      throw invalidParams(`invalid type: ${serdeKind(raw)}, expected an array or an object`);
    }
  }

  /**
   * The next positional value, or the named one. jsonrpsee also accepts the lowerCamelCase form
   * of a snake_case name; every param name here is one word, so both spellings are the same key.
   */
  private take(name: string): unknown {
    if (this.list) return this.list[this.index++];
    return this.named && Object.hasOwn(this.named, name) ? this.named[name] : undefined;
  }

  private missing(name: string): never {
    throw invalidParams(this.list ? "No more params" : `missing field \`${name}\``);
  }

  string(name: string): string {
    const value = this.take(name);
    if (value === undefined) this.missing(name);
    if (typeof value !== "string") {
      throw invalidParams(`invalid type: ${serdeKind(value)}, expected a string`);
    }
    return value;
  }

  /** An `Option<String>`: missing and null both mean none. Named, `aliases` are tried in turn. */
  optionalString(name: string, ...aliases: string[]): string | undefined {
    let value = this.take(name);
    if (!this.list) {
      for (const alias of aliases) {
        if (value !== undefined && value !== null) break;
        value = this.take(alias);
      }
    }
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") {
      throw invalidParams(`invalid type: ${serdeKind(value)}, expected a string`);
    }
    return value;
  }

  /** An `Option<map>`: missing and null both mean none. */
  optionalMap(name: string): Record<string, unknown> | undefined {
    const value = this.take(name);
    if (value === undefined || value === null) return undefined;
    if (!isRecord(value)) throw invalidParams(`invalid type: ${serdeKind(value)}, expected a map`);
    return value;
  }

  /** A list of strings (or one string), missing or null meaning none. */
  optionalStrings(name: string): string[] | undefined {
    const value = this.take(name);
    if (value === undefined || value === null) return undefined;
    if (typeof value === "string") return [value];
    if (!Array.isArray(value)) {
      throw invalidParams(`invalid type: ${serdeKind(value)}, expected a sequence of strings`);
    }
    for (const item of value) {
      if (typeof item !== "string") {
        throw invalidParams(`invalid type: ${serdeKind(item)}, expected a string`);
      }
    }
    return value as string[];
  }

  /** A finite number (an integer when `integer`), at least `min`; missing or null meaning none. */
  optionalNumber(name: string, min: number, integer: boolean): number | undefined {
    const value = this.take(name);
    if (value === undefined || value === null) return undefined;
    const expected = integer ? "an integer" : "a number";
    if (
      typeof value !== "number" ||
      !Number.isFinite(value) ||
      (integer && !Number.isInteger(value))
    ) {
      throw invalidParams(`invalid type: ${serdeKind(value)}, expected ${expected}`);
    }
    if (value < min)
      throw invalidParams(`invalid value: ${serdeKind(value)}, expected at least ${min}`);
    return value;
  }

  map(name: string): Record<string, unknown> {
    const value = this.take(name);
    if (value === undefined) this.missing(name);
    if (!isRecord(value)) throw invalidParams(`invalid type: ${serdeKind(value)}, expected a map`);
    return value;
  }

  /** The next value as sent, for a method that decodes it itself; undefined when missing. */
  raw(name: string, required = false): unknown {
    const value = this.take(name);
    if (value === undefined && required) this.missing(name);
    return value;
  }
}

// ---------------------------------------------------------------------------------------------
// Params of the lifecycle methods (service_wait, system_ready), decoded with serde's texts.

/** Most services one wait (or readiness check) names: each event re-checks every one of them. */
export const MAX_NAMES = 1024;

const WAIT_CONDITIONS: readonly WaitCondition[] = ["running", "stopped", "exited", "failed"];

/** A name or a list of names, each valid, at most MAX_NAMES; at least one when `required`. */
function serviceNames(action: string, value: unknown, required: boolean): string[] | undefined {
  if (value === undefined || value === null) {
    if (required)
      throw invalidParams("invalid type: null, expected a service name or a sequence of them");
    return undefined;
  }
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || !list.every((n) => typeof n === "string")) {
    const bad = Array.isArray(list) ? list.find((n) => typeof n !== "string") : list;
    throw invalidParams(
      `invalid type: ${serdeKind(bad)}, expected a service name or a sequence of them`,
    );
  }
  if (list.length === 0 && required)
    throw invalidParams("invalid length 0, expected 1 or more names");
  if (list.length > MAX_NAMES) {
    throw invalidParams(`invalid length ${list.length}, expected at most ${MAX_NAMES} names`);
  }
  for (const name of list) checkName(action, name);
  return list;
}

function waitCondition(value: unknown): WaitCondition {
  if (value === undefined || value === null) return "running";
  const known = WAIT_CONDITIONS.find((c) => c === value);
  if (known) return known;
  const expected = WAIT_CONDITIONS.map((c) => `\`${c}\``).join(", ");
  if (typeof value !== "string") {
    throw invalidParams(`invalid type: ${serdeKind(value)}, expected one of ${expected}`);
  }
  throw invalidParams(`unknown variant \`${value}\`, expected one of ${expected}`);
}

/** Seconds (a number, at least 0) → ms; missing, null and 0 mean no limit. */
function waitTimeout(value: unknown): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw invalidParams(`invalid type: ${serdeKind(value)}, expected a number of seconds`);
  }
  if (value < 0) {
    throw invalidParams(`invalid value: ${serdeKind(value)}, expected a number of seconds >= 0`);
  }
  return Math.ceil(value * 1000);
}

/** A core exit status as the API shows it (service_inspect's `last_exit` shape). */
function exitJson(
  exit: ServiceChange["exit"],
): { code: number | null; signal: number | null } | null {
  if (exit === null) return null;
  return exit.kind === "exited"
    ? { code: exit.code, signal: null }
    : { code: null, signal: exit.signal };
}

/** One service in a stream_subscribeEvents item. */
function viewJson(v: ServiceView): Record<string, unknown> {
  return {
    name: v.name,
    state: v.state,
    target: v.target,
    pid: v.pid,
    phase: v.phase,
    ready: v.ready,
    reason: v.reason,
    exit: exitJson(v.exit),
    time: v.time,
  };
}

/** `system_http_access`'s change: lists of strings and a token (string, or null to remove it). */
function accessChange(raw: Record<string, unknown> | undefined): HttpAccessChange | null {
  if (raw === undefined) return null;
  const change: HttpAccessChange = {};
  for (const key of ["cors_origins", "allow_hosts"] as const) {
    const value = raw[key];
    if (value === undefined) continue;
    if (!Array.isArray(value) || !value.every((v) => typeof v === "string" && v !== "")) {
      throw invalidParams(`\`${key}\` must be a list of non-empty strings`);
    }
    change[key] = value as string[];
  }
  const token = raw.token;
  if (token !== undefined) {
    if (token !== null && (typeof token !== "string" || token.trim() === "")) {
      throw invalidParams("`token` must be a non-empty string, or null to remove it");
    }
    change.token = token === null ? null : token.trim();
  }
  return Object.keys(change).length === 0 ? null : change;
}

function checkName(action: string, name: string): void {
  const reason = serviceNameError(name);
  if (reason !== null) throw invalidServiceName(action, name, reason);
}

/** Labels a log line can carry: a service, its `/test`, `/live` or `/stop` helper, or `zinit`. */
const HELPER = /\/(test|live|stop)$/;

function checkLabel(action: string, label: string): void {
  if (label === "zinit") return;
  const helper = HELPER.exec(label);
  const base = helper ? label.slice(0, helper.index) : label;
  const reason = serviceNameError(base);
  if (reason !== null) throw invalidServiceName(action, label, reason);
}

/** The filters shared by stream_queryLogs and stream_followLogs: `names`, `grep`. */
function recordFilter(
  action: string,
  names: string[] | undefined,
  grep: string | undefined,
): RecordFilter {
  const filter: RecordFilter = {};
  if (names !== undefined) {
    for (const name of names) checkLabel(action, name);
    filter.names = new Set(names);
  }
  if (grep !== undefined) {
    try {
      filter.grep = compileGrep(grep);
    } catch (err) {
      if (!(err instanceof GrepError)) throw err;
      throw zinitRpcError(INVALID_PARAMS, action, `grep: ${err.message}`, null, null, {
        extra: { code_name: "InvalidParams" },
        hint: "See the README's Logs section for the pattern syntax",
      });
    }
  }
  return filter;
}

/** stream_queryLogs' params, in positional order: names, lines, since, until, grep, after, to, limit. */
function logQuery(action: string, p: Params): LogQuery {
  const names = p.optionalStrings("names");
  const lines = p.optionalNumber("lines", 0, true);
  const since = p.optionalNumber("since", Number.NEGATIVE_INFINITY, false);
  const until = p.optionalNumber("until", Number.NEGATIVE_INFINITY, false);
  const grep = p.optionalString("grep");
  const after = p.optionalNumber("after", 0, true);
  const to = p.optionalNumber("to", 0, true);
  const limit = p.optionalNumber("limit", 1, true);
  const q: LogQuery = recordFilter(action, names, grep);
  if (lines !== undefined) q.lines = lines;
  if (since !== undefined) q.since = since;
  if (until !== undefined) q.until = until;
  if (after !== undefined) q.after = after;
  if (to !== undefined) q.to = to;
  if (limit !== undefined) q.limit = Math.min(limit, PAGE_RECORDS);
  return q;
}

/** Runs a Control call and maps whatever it throws to the error object of `action`. */
async function attempt<T>(
  action: string,
  service: string | null,
  run: () => T | Promise<T>,
  defaultCode?: number,
): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw toRpcError(err, action, service, defaultCode === undefined ? {} : { defaultCode });
  }
}

// ---------------------------------------------------------------------------------------------
// Service files (create/get/delete): the store does the work; these are upstream's error objects
// for what went wrong, step by step as upstream names them.

type FileMethod = "create" | "get" | "delete";

const ACTIONS: Record<FileMethod, string> = {
  create: "creating service",
  get: "getting service",
  delete: "deleting service",
};

function fileMethodError(method: FileMethod, name: string, err: unknown): unknown {
  if (err instanceof ConfigFileError) {
    return zinitRpcError(CONFIG_ERROR, ACTIONS[method], err.message, name, causeChain(err), {
      dataAction: "validating service config",
      hint: "Ensure content is valid according to schema",
    });
  }
  if (!(err instanceof StoreError)) return err;
  const causes = err.causes;
  const fileError = (action: string, detail: string) =>
    zinitRpcError(SERVICE_FILE_ERROR, action, detail, name, causes);
  switch (err.failure) {
    case "notFound":
      return zinitRpcError(
        SERVICE_NOT_FOUND,
        ACTIONS[method],
        `Service '${name}' not found`,
        name,
        null,
        {
          dataAction: method === "get" ? "reading service file" : "deleting service file",
          hint: "Ensure the service file exists",
        },
      );
    case "exists":
      return zinitRpcError(
        SERVICE_ALREADY_EXISTS,
        "creating service",
        `Service '${name}' already exists`,
        name,
        null,
        { dataAction: "creating service file" },
      );
    case "read":
      return fileError("reading service file", "failed to read service file");
    case "create":
      return fileError("creating service file", "failed to create service file");
    case "write":
      return fileError("writing service file", "failed to write service file");
    case "delete":
      return fileError("deleting service file", "failed to delete service file");
    case "parse":
      return zinitRpcError(CONFIG_ERROR, "getting service", "failed to parse YAML", name, causes, {
        dataAction: "parsing service file",
        hint: "Ensure the YAML is valid",
      });
    case "convert":
      return zinitRpcError(
        CONFIG_ERROR,
        "getting service",
        "failed to convert YAML to JSON",
        name,
        causes,
        { dataAction: "converting YAML to JSON", hint: "Ensure the YAML is valid" },
      );
    case "serialize":
      return zinitRpcError(
        CONFIG_ERROR,
        "creating service",
        "failed to convert content to YAML",
        name,
        causes,
        {
          dataAction: "serializing service config",
          hint: "Ensure content is valid according to schema",
        },
      );
  }
}

/** Runs a store call, answering its failure with upstream's error object. */
function fileCall<T>(method: FileMethod, name: string, run: () => T): T {
  try {
    return run();
  } catch (err) {
    throw fileMethodError(method, name, err);
  }
}

/** What the method table reaches besides the daemon: the service files and the HTTP server. */
interface MethodDeps {
  /** The service files (create/get/delete). */
  files: ServiceStore;
  http: HttpHost;
}

/** A note from zinit in the shape of a log record (no `seq`: it is not in the ring). */
function zinitRecord(line: string, extra: Record<string, unknown>): Record<string, unknown> {
  return { time: Date.now(), service: "zinit", stream: "stderr", line, ...extra };
}

export function createMethodTable(control: Control, deps: MethodDeps): MethodTable {
  const call = (fn: (p: Params, ctx: CallContext) => Promise<unknown>): CallMethod => ({
    kind: "call",
    call: (raw, ctx = { transport: "unix" }) =>
      Promise.resolve().then(() => fn(new Params(raw), ctx)),
  });
  /**
   * Over HTTP or WebSocket, what could widen access (another address, other origins) needs the
   * bearer token: without one, a loopback page or process could expose the API to the network.
   */
  const guardNetwork = (action: string, ctx: CallContext) => {
    if (ctx.transport === "unix" || deps.http.state().token) return;
    throw zinitRpcError(
      INTERNAL_ERROR,
      action,
      "only allowed over the unix socket unless the HTTP API has a token (zinit init --token-file)",
      null,
      null,
    );
  };
  // Methods without params ignore whatever is sent, as jsonrpsee does.
  const noParams = (fn: () => Promise<unknown>): CallMethod => ({ kind: "call", call: () => fn() });

  /** The common shape: one `name` param, checked, then one Control call. */
  const named = (action: string, run: (name: string) => unknown) =>
    call(async (p) => {
      const name = p.string("name");
      checkName(action, name);
      return attempt(action, name, () => run(name));
    });

  const methods: [string, MethodDef][] = [
    ["rpc.discover", noParams(async () => OPENRPC_TEXT)],

    [
      "service_list",
      noParams(() =>
        attempt("listing services", null, () => {
          const list = control.list();
          const out: Record<string, string> = {};
          for (const [name, state] of Object.entries(list)) out[name] = state;
          return out;
        }),
      ),
    ],

    [
      "service_status",
      named("getting status", (name) => {
        const s = control.status(name);
        // Rebuilt so the keys go out in upstream's order whatever the daemon returned.
        return {
          name: s.name,
          pid: s.pid,
          state: s.state,
          target: s.target,
          after: { ...s.after },
        };
      }),
    ],

    [
      "service_start",
      named("starting service", (name) => {
        control.start(name);
        return null;
      }),
    ],

    [
      "service_stop",
      named("stopping service", async (name) => {
        await control.stop(name);
        return null;
      }),
    ],

    [
      "service_monitor",
      call(async (p) => {
        const action = "monitoring service";
        const name = p.string("name");
        checkName(action, name);
        try {
          await control.monitor(name);
        } catch (err) {
          const loading = err instanceof ZinitError && err.kind === "ConfigError";
          throw toRpcError(
            err,
            action,
            name,
            loading ? { dataAction: "loading service config" } : {},
          );
        }
        return null;
      }),
    ],

    [
      "service_forget",
      named("forgetting service", (name) => {
        control.forget(name);
        return null;
      }),
    ],

    [
      "service_kill",
      call(async (p) => {
        const action = "sending signal";
        const name = p.string("name");
        const signal = p.string("signal");
        // Upstream checks the signal before the service (v0.2.28).
        if (parseSignal(signal) === null) throw invalidSignal(signal, name);
        checkName(action, name);
        await attempt(action, name, () => control.kill(name, signal));
        return null;
      }),
    ],

    [
      "service_create",
      call(async (p) => {
        const action = "creating service";
        const name = p.string("name");
        const content = p.map("content");
        checkName(action, name);
        // Refused rather than raced: the daemon is about to go away, and its reply with it.
        if (control.shuttingDown) throw toRpcError(shuttingDown(), action, name);
        fileCall("create", name, () => deps.files.create(name, content));
        return `Service '${name}' created successfully`;
      }),
    ],

    [
      "service_delete",
      call(async (p) => {
        const name = p.string("name");
        checkName("deleting service", name);
        fileCall("delete", name, () => deps.files.delete(name));
        return `Service '${name}' deleted successfully`;
      }),
    ],

    [
      "service_get",
      call(async (p) => {
        const name = p.string("name");
        checkName("getting service", name);
        return fileCall("get", name, () => deps.files.get(name));
      }),
    ],

    [
      "service_stats",
      named("collecting stats", async (name) => {
        const s = await control.stats(name);
        const proc = (x: { pid: number; memory_usage: number; cpu_usage: number }) => ({
          pid: x.pid,
          memory_usage: x.memory_usage,
          cpu_usage: x.cpu_usage,
        });
        return { name: s.name, ...proc(s), children: s.children.map(proc) };
      }),
    ],

    [
      "system_shutdown",
      noParams(() =>
        attempt(
          "system shutdown",
          null,
          () => {
            control.shutdown(false);
            return null;
          },
          SHUTTING_DOWN,
        ),
      ),
    ],

    [
      "system_reboot",
      noParams(() =>
        attempt("system reboot", null, () => {
          control.shutdown(true);
          return null;
        }),
      ),
    ],

    [
      "system_start_http_server",
      call(async (p, ctx) => {
        const address = p.string("address");
        // A malformed address gets upstream's error first, whoever asks.
        await attempt("starting http server", null, () => parseAddress(address));
        guardNetwork("starting http server", ctx);
        const bound = await attempt("starting http server", null, () => deps.http.start(address));
        return `HTTP/RPC server started at ${bound}`;
      }),
    ],

    [
      "system_http_access",
      call(async (p, ctx) => {
        const action = "configuring http access";
        const change = accessChange(p.optionalMap("access"));
        if (change === null) return deps.http.state();
        guardNetwork(action, ctx);
        return attempt(action, null, () => deps.http.setAccess(change));
      }),
    ],

    [
      "service_inspect",
      named("inspecting service", (name) => ({
        ...control.inspect(name),
        shutdown_timeout: control.shutdownTimeout(name),
      })),
    ],

    [
      "system_stop_http_server",
      noParams(async () => {
        await attempt("stopping http server", null, () => deps.http.stop());
        return null;
      }),
    ],

    [
      "stream_currentLogs",
      call(async (p) => {
        const action = "getting logs";
        const name = p.optionalString("name");
        if (name !== undefined) checkName(action, name);
        return attempt(action, name ?? null, () => [...control.logs(name)]);
      }),
    ],

    [
      "stream_subscribeLogs",
      {
        kind: "subscribe",
        subscribe: async (raw, emit) => {
          const action = "subscribing to logs";
          // Upstream's param is `filter` while its openrpc says `name` (#27): both work here.
          const name = new Params(raw).optionalString("filter", "name");
          if (name !== undefined) checkName(action, name);
          return attempt(action, name ?? null, () =>
            control.subscribeLogs(name, (line) => emit(line)),
          );
        },
        // Upstream's line for a follower that fell behind (its broadcast channel lagged).
        lagged: lagLine,
      },
    ],

    ["stream_unsubscribeLogs", { kind: "unsubscribe", subscription: "stream_subscribeLogs" }],

    [
      "stream_queryLogs",
      call(async (p) => {
        const action = "querying logs";
        const query = logQuery(action, p);
        return attempt(action, null, () => control.queryLogs(query));
      }),
    ],

    [
      "stream_followLogs",
      {
        kind: "subscribe",
        subscribe: async (raw, emit) => {
          const action = "following logs";
          const p = new Params(raw);
          const filter = recordFilter(action, p.optionalStrings("names"), p.optionalString("grep"));
          return attempt(action, null, () =>
            control.followLogs(filter, {
              line: (record) => emit(record),
              // The last item: zinit is stopping, so a follower can end cleanly.
              end: (reason) => emit(zinitRecord(reason, { end: true })),
            }),
          );
        },
        lagged: (dropped) => zinitRecord(`${dropped} lines dropped`, { dropped }),
      },
    ],

    ["stream_unfollowLogs", { kind: "unsubscribe", subscription: "stream_followLogs" }],

    [
      "system_reopenLogs",
      noParams(() => attempt("reopening log files", null, () => control.reopenLogs())),
    ],

    // ---- ours, not upstream's: server-side waits, events, readiness ----

    [
      "service_wait",
      call(async (p, ctx) => {
        const action = "waiting for services";
        const names = serviceNames(action, p.raw("names", true), true) as string[];
        const condition = waitCondition(p.raw("condition"));
        const timeoutMs = waitTimeout(p.raw("timeout"));
        return attempt(action, names.length === 1 ? (names[0] as string) : null, () =>
          control.wait(names, condition, timeoutMs, ctx.signal),
        );
      }),
    ],

    [
      "stream_subscribeEvents",
      {
        kind: "subscribe",
        subscribe: async (_raw, emit) => {
          const { snapshot, current, unsubscribe } = control.subscribeEvents((e) =>
            emit(
              e.event === "change"
                ? { event: "change", ...viewJson(e) }
                : { event: "forgotten", name: e.name, time: e.time },
            ),
          );
          emit({ event: "snapshot", services: snapshot.map(viewJson) });
          return {
            cancel: unsubscribe,
            // What a subscriber that fell behind missed is replaced by where things stand now.
            lagged: (dropped: number) => ({
              event: "lagged",
              dropped,
              services: current().map(viewJson),
            }),
          };
        },
        // Every subscription brings its own (with the services as they are then).
        lagged: (dropped) => ({ event: "lagged", dropped, services: [] }),
      },
    ],

    ["stream_unsubscribeEvents", { kind: "unsubscribe", subscription: "stream_subscribeEvents" }],

    [
      "system_ready",
      call(async (p) => {
        const action = "checking readiness";
        const names = serviceNames(action, p.raw("names"), false);
        return attempt(action, null, () => readiness(control, names));
      }),
    ],
  ];
  return new Map(methods);
}
