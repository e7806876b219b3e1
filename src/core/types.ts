// Shared vocabulary of the supervisor: what a service is, what state it is in, and how a
// process ended. Everything here is plain data so the core can be tested without processes.

export type Target = "Up" | "Down";

/** Where a service's output goes. `file` also keeps the lines in the ring. */
export type LogMode = "ring" | "stdout" | "none" | "file";

/** `restart:`: when a main process that ended is started again (while its target is Up). */
type RestartPolicy = "always" | "on-failure" | "never";

/** What a critical service's final failure does to a machine (a container always exits). */
type CriticalAction = "reboot" | "poweroff";

/** A command line as written and its shell-word split. */
export interface Command {
  line: string;
  argv: string[];
}

/**
 * One probe: exactly one of `exec` (a command, exit 0 passes), `tcp` (`host:port` accepts a
 * connection), `http` (a GET answered with a status in `status`) or `log` (a line of the
 * service's own output matches the regular expression).
 */
export type ProbeCheck =
  | { kind: "exec"; command: Command }
  | { kind: "tcp"; host: string; port: number }
  | { kind: "http"; url: string; status: { min: number; max: number } }
  | { kind: "log"; pattern: string };

export interface Probe {
  check: ProbeCheck;
  /** Between attempts (readiness) or checks (liveness). Null: the backoff of `test`. */
  intervalMs: number | null;
  /** One attempt that has not answered by then fails (and its process group is killed). */
  timeoutMs: number;
}

export interface LivenessProbe extends Probe {
  /** This many failures in a row restart the service. */
  failureThreshold: number;
}

/** How a service says it is ready by itself, instead of being probed. */
export type Notify =
  | { kind: "fd"; fd: number } // a newline written to fd N (s6, dinit)
  | { kind: "systemd" }; // sd_notify(3) datagrams on $NOTIFY_SOCKET

/** Where `log: file` writes, and how the file is rotated. */
export interface LogFileConfig {
  /** Absolute path; the default is /var/log/zinit/<name>.log (or `init --log-dir`). */
  path: string | null;
  /** Rotate when the file would grow past this many bytes. */
  maxBytes: number;
  /** Rotated files kept (`NAME.log.1` … `NAME.log.N`). */
  keep: number;
}

/**
 * A validated service file. The first block holds upstream 0.2's keys; everything after it is
 * optional and defaults to exactly what a 0.2 file means.
 */
export interface ServiceConfig {
  exec: string;
  argv: string[];
  /** Empty string: no health check. */
  test: string;
  testArgv: string[];
  oneshot: boolean;
  /** Seconds between the stop signal and SIGKILL. */
  shutdownTimeout: number;
  after: string[];
  /** The stop signal's number, parsed once at load (`signal: {stop: sigterm}` → 15). */
  stopSignal: number;
  log: LogMode;
  env: Record<string, string>;
  /** Absolute working directory ("/" when the file leaves it empty). */
  dir: string;

  // ---- lifecycle -------------------------------------------------------------------------------
  /** Default `always`, and `never` for oneshots. */
  restart: RestartPolicy;
  /** Exit codes `on-failure` counts as success (and that make a critical service's exit clean). */
  successExitCodes: number[];
  /** First delay of the restart backoff, doubled per quick crash up to `restartDelayMaxMs`. */
  restartDelayMs: number;
  restartDelayMaxMs: number;
  /** A run at least this long resets the backoff: the next restart is immediate. */
  stabilityPeriodMs: number;
  /** Restarts allowed within `restartWindowMs` before the service is given up on; 0: no limit. */
  maxRestarts: number;
  restartWindowMs: number;
  /** Failing for good shuts zinit down (container: with the service's exit code). */
  critical: boolean;
  criticalAction: CriticalAction;
  /** A successful exit of this service ends zinit with exit code 0 ("the container is this job"). */
  exitOnSuccess: boolean;
  /** Not Running within this long after a spawn counts as a failed run; null: no limit. */
  startTimeoutMs: number | null;
  /** Run before the stop signal, to stop the service its own way (zinit#61). */
  stop: Command | null;

  // ---- readiness and health --------------------------------------------------------------------
  /** A readiness probe other than `test` (`health.ready`). */
  ready: Probe | null;
  /** Checked periodically once Running (`health.live`). */
  live: LivenessProbe | null;
  notify: Notify | null;
  /** With `notify: systemd`: WATCHDOG=1 must arrive at least this often; null: no watchdog. */
  watchdogMs: number | null;

  // ---- logs ------------------------------------------------------------------------------------
  logFile: LogFileConfig;
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
