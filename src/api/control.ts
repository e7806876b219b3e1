// What the method table needs from a running daemon. The daemon implements it; the method table
// (src/api/methods.ts) is the only caller, and every transport goes through the method table.
// Failures are thrown as ZinitError (src/core/errors.ts).

export interface ServiceStatus {
  name: string;
  pid: number;
  state: string;
  target: "Up" | "Down";
  after: Record<string, string>;
}

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
  /** Absolute path of the service directory (for create/get/delete/monitor). */
  readonly configDir: string;
  list(): Record<string, string>;
  status(name: string): ServiceStatus;
  start(name: string): void;
  /** Resolves once every process of the service is gone. */
  stop(name: string): Promise<void>;
  /** Loads `<configDir>/<name>.yaml` (or .yml) and starts supervising it. */
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
  /** Starts the HTTP/WebSocket server (replacing a running one); resolves to the bound address. */
  startHttp(address: string): Promise<string>;
  /** Throws if none is running. */
  stopHttp(): Promise<void>;
}
