// What the method table needs from a running daemon. The daemon (src/shell/daemon.ts) implements
// it; the method table (src/api/methods.ts) is the only caller, and every transport goes through
// the method table. Failures are thrown as ZinitError (src/core/errors.ts).

import type { ServiceDetail, ServiceStatus } from "../core/supervisor.ts";
import type { LogQuery, QueryResult } from "../log/query.ts";
import type { FollowListener, RecordFilter } from "../log/ring.ts";

export type { ServiceDetail, ServiceStatus };

export interface ProcessStats {
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

export type LogListener = (line: string) => void;

export interface Control {
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
  /** Starts the shutdown (or reboot) in the background; throws ShuttingDown if one is under way. */
  shutdown(reboot: boolean): void;
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
}

/** The HTTP/WebSocket server of `zinit proxy` / `init --http`. */
export interface HttpHost {
  /** Starts it (replacing a running one); resolves to the bound address. */
  start(address: string): Promise<string>;
  /** Throws if none is running. */
  stop(): Promise<void>;
}
