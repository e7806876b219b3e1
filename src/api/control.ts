// What the method table needs from a running daemon. The daemon (src/shell/daemon.ts) implements
// it; the method table (src/api/methods.ts) is the only caller, and every transport goes through
// the method table. Failures are thrown as ZinitError (src/core/errors.ts).

import type { ServiceChange } from "../core/effects.ts";
import type { ServiceDetail, ServiceStatus, WaitCondition } from "../core/supervisor.ts";
import type { LogQuery, QueryResult } from "../log/query.ts";
import type { FollowListener, RecordFilter } from "../log/ring.ts";

export type { ServiceChange, ServiceDetail, ServiceStatus, WaitCondition };

/** A service as an event subscriber knows it: its last change, stamped with zinit's wall clock. */
export interface ServiceView extends ServiceChange {
  /** Milliseconds since the epoch at which zinit carried out the change. */
  time: number;
}

/** What an event subscriber is told, in order. */
export type ServiceEvent =
  | ({ event: "change" } & ServiceView)
  /** The service was forgotten (`service_forget`): no more events for it. */
  | { event: "forgotten"; name: string; time: number };

/** What the processes of a service use, read now (no sampling window). */
export interface ServiceUsage {
  /** Live processes of the service read. */
  processes: number;
  /** RSS in bytes, summed over them. */
  rss: number;
  /** User + system CPU time of them (live processes only), in seconds. */
  cpu_seconds: number;
}

export interface WaitResult {
  /** Every service reached the condition. */
  ok: boolean;
  /** Per service: its state when the wait ended, and whether it met the condition. */
  services: Record<string, { state: string; met: boolean; reason: string }>;
  /** Why the wait ended without success: "timeout", or "failed" when a service can no longer get there. */
  why: "met" | "timeout" | "failed";
}

interface ProcessStats {
  pid: number;
  /** RSS in bytes. */
  memory_usage: number;
  /** Percent of one core over the sampling window. */
  cpu_usage: number;
}

export interface ServiceStats extends ProcessStats {
  name: string;
  children: ProcessStats[];
}

type LogListener = (line: string) => void;

export interface Control {
  /** The loaded `shutdown_timeout` of a service, in seconds (clients size their stop waits by it). */
  shutdownTimeout(name: string): number;
  list(): Record<string, string>;
  status(name: string): ServiceStatus;
  /** Everything upstream's status does not carry: restarts, reason, readiness, last exit. */
  inspect(name: string): ServiceDetail;
  start(name: string): void;
  /** Resolves once every process of the service is gone. */
  stop(name: string): Promise<void>;
  /** Loads `<name>.yaml` (or .yml) from the config directory and starts supervising it. */
  monitor(name: string): Promise<void>;
  forget(name: string): void;
  kill(name: string, signal: string): void;
  stats(name: string): Promise<ServiceStats>;
  /** A shutdown or reboot is under way: nothing new is started or created. */
  readonly shuttingDown: boolean;
  /** Starts the shutdown (or reboot) in the background; throws ShuttingDown if one is under way. */
  shutdown(reboot: boolean): void;
  /**
   * Per service, what its main process, the processes of the session it leads and all their
   * descendants use, read now (one pass over the process table).
   */
  usage(): Record<string, ServiceUsage>;
  /** Ring snapshot, oldest first; `name` keeps only that service's own lines (upstream's filter). */
  logs(name?: string): string[];
  /** Calls `listener` with every new ring line matching `name`; returns the unsubscribe function. */
  subscribeLogs(name: string | undefined, listener: LogListener): () => void;
  /** One page of the ring's records matching `query` (src/log/query.ts). */
  queryLogs(query: LogQuery): Promise<QueryResult>;
  /** Every new record matching `filter`, then `end` when zinit stops; returns the unsubscribe. */
  followLogs(filter: RecordFilter, listener: FollowListener): () => void;
  /** Closes and reopens every open log file (after logrotate); returns their paths. */
  reopenLogs(): string[];
  /**
   * Resolves once every named service meets `condition`, or after `timeoutMs` (0: no limit), or as
   * soon as one of them can no longer meet it (waiting for running on a service that failed for
   * good, or was forgotten). Throws ServiceNotFound for an unknown name. Rejects with the
   * signal's reason when `signal` aborts (the client went away).
   */
  wait(
    names: string[],
    condition: WaitCondition,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<WaitResult>;
  /**
   * Every service as subscribers last heard of it, and from then on every event, in order, with
   * no event lost or repeated between the two. `current()` is the same snapshot taken later
   * (for a subscriber that fell behind and missed events).
   */
  subscribeEvents(listener: (event: ServiceEvent) => void): {
    snapshot: ServiceView[];
    current: () => ServiceView[];
    unsubscribe: () => void;
  };
}

/** The transport a request came in on: some methods are refused over the network ones. */
export type Transport = "unix" | "http" | "websocket";

/** What `system_http_access` may change; absent fields stay as they are. */
export interface HttpAccessChange {
  cors_origins?: string[];
  allow_hosts?: string[];
  /** A new bearer token; null removes it. */
  token?: string | null;
}

/** The HTTP server and its access policy, as `system_http_access` reports them. */
export interface HttpHostState {
  /** The running server's address, or null. */
  address: string | null;
  /** "init" for `zinit init --http`, "request" for `system_start_http_server` (`zinit proxy`). */
  started_by: "init" | "request" | null;
  cors_origins: string[];
  allow_hosts: string[];
  /** Whether a bearer token is required (the token itself is never reported). */
  token: boolean;
}

/** The HTTP/WebSocket server of `zinit proxy` / `init --http`. */
export interface HttpHost {
  /**
   * Starts it, replacing one started by request; resolves to the bound address. One started by
   * `init --http` (`boot`) is never replaced: that throws, naming its address.
   */
  start(address: string, opts?: { boot?: boolean }): Promise<string>;
  /** Throws if none is running. */
  stop(): Promise<void>;
  state(): HttpHostState;
  setAccess(change: HttpAccessChange): HttpHostState;
}
