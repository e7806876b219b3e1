// Shared vocabulary of the supervisor: what a service is, what state it is in, and how a
// process ended. Everything here is plain data so the core can be tested without processes.

export type Target = "Up" | "Down";

export type LogMode = "ring" | "stdout" | "none";

/** A validated service file. `argv`/`testArgv` are the shell-word splits of `exec`/`test`. */
export interface ServiceConfig {
  exec: string;
  argv: string[];
  /** Empty string: no health check. */
  test: string;
  testArgv: string[];
  oneshot: boolean;
  /** Seconds. */
  shutdownTimeout: number;
  after: string[];
  /** Canonical upper-case name with the SIG prefix, e.g. "SIGTERM". */
  stopSignal: string;
  log: LogMode;
  env: Record<string, string>;
  /** Working directory as written; "" means "/". */
  dir: string;
}

/** How a reaped process ended, decoded from the raw wait status. */
export type ExitStatus =
  | { kind: "exited"; code: number }
  | { kind: "signaled"; signal: number; core: boolean };

/** Upstream's service states; rendered with `stateString` exactly as upstream's Rust Debug form. */
export type State =
  | { kind: "Unknown" }
  | { kind: "Blocked" }
  | { kind: "Spawned" }
  | { kind: "Running" }
  | { kind: "Success" }
  | { kind: "Error"; pid: number; status: ExitStatus }
  | { kind: "TestFailure" }
  | { kind: "Failure" };
