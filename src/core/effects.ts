// What the core and the shell say to each other. The shell feeds the core events (a process was
// spawned or reaped, a timer fired, a probe answered) and carries out the effects the core
// returns. An effect carries everything needed to carry it out, so the shell never asks the core
// back for a config or a pid.

import type { ExitStatus, LogMode, Notify, ProbeCheck } from "./types.ts";

/** Which process of a service: its main process, a probe's command, or its `stop` command. */
export type Role = "main" | "ready" | "live" | "stop";

export type ProbeLevel = "ready" | "live";

/** Per-service timers; a service has at most one of each kind armed. */
export type TimerKind =
  | "restart" // the backoff before a restart is over
  | "kill" // shutdown_timeout after the stop began: SIGKILL
  | "giveUp" // KILL_GRACE after SIGKILL: stop waiting for processes
  | "startTimeout" // start_timeout_ms after the spawn: not Running in time
  | "ready" // next readiness attempt
  | "readyTimeout" // a readiness command ran too long
  | "live" // next liveness check
  | "liveTimeout" // a liveness command ran too long
  | "watchdog"; // no WATCHDOG=1 in time

export type PowerMode = "exit" | "poweroff" | "reboot";
export type LogLevel = "debug" | "info" | "warn" | "error";

/** How to start one process of a service. */
export interface SpawnSpec {
  argv: string[];
  /** The service's own `env`; the shell lays it over zinit's environment and /etc/environment. */
  env: Record<string, string>;
  /** Absolute working directory. */
  cwd: string;
  log: LogMode;
  /** The name its output lines carry: `web`, `web/test`, `web/live`, `web/stop`. */
  label: string;
  /** Readiness notification to wire up (main process only). */
  notify: Notify | null;
  /** With `notify: systemd` and a watchdog: WATCHDOG_USEC for the service. */
  watchdogMs: number | null;
  /**
   * The `health.ready` and `health.live` log probes: the patterns the shell matches every line of
   * the main process's output against (empty: none).
   */
  watch: Array<{ level: ProbeLevel; pattern: string }>;
}

/** A probe the shell carries out itself and answers with a `probeDone` event within `timeoutMs`. */
export type NetProbe = Extract<ProbeCheck, { kind: "tcp" } | { kind: "http" } | { kind: "log" }>;

/** One observable change of a service, for waiters and event subscribers. */
export interface ServiceChange {
  name: string;
  /** Upstream's state string after the change. */
  state: string;
  target: "Up" | "Down";
  pid: number;
  /** Why, in a few words: "spawned", "exited with code 1; restarting in 200 ms", … */
  reason: string;
  /** How the main process ended, when this change is its exit. */
  exit: ExitStatus | null;
  /** The core's own phase (idle, blocked, starting, running, backoff, stopping). */
  phase: string;
  ready: boolean;
}

export type Effect =
  /** Start a process; answer with `spawned` or `spawnFailed`. */
  | { type: "spawn"; name: string; role: Role; spec: SpawnSpec }
  /**
   * Send `signal` to every process of the service (its sessions, the members found in them, their
   * descendants; `pid` is its current main process, 0 if none). Answer with `drained` once no
   * process of it is left, checking again after each of its processes is reaped.
   */
  | { type: "signal"; name: string; pid: number; signal: number }
  /** The main-process spawn asked for and not carried out yet is not wanted any more (a stop
   * came first): drop it. */
  | { type: "cancelSpawn"; name: string }
  /** Signal the process group of one helper process (a probe's command, the stop command). */
  | { type: "killGroup"; name: string; role: Role; pid: number; signal: number }
  /** Run a tcp/http probe or watch the output for a log probe; answer with `probeDone`. */
  | { type: "probe"; name: string; level: ProbeLevel; check: NetProbe; timeoutMs: number }
  /**
   * A main process that a `MAINPID=` replaced has been reaped. `pid` is the main process now: if
   * it is gone without having been reaped by us (that process, its parent, reaped it), answer
   * with its `exited`, carrying `status`, the only exit status there is to go by.
   */
  | { type: "confirmMain"; name: string; pid: number; status: ExitStatus }
  /** Forget an unanswered probe: its answer, if any, is not wanted any more. */
  | { type: "cancelProbe"; name: string; level: ProbeLevel }
  | { type: "timer"; name: string; kind: TimerKind; ms: number }
  | { type: "cancelTimer"; name: string; kind: TimerKind }
  | { type: "log"; level: LogLevel; message: string }
  /** The service's state, target, phase or pid changed. */
  | { type: "changed"; change: ServiceChange }
  /** A stop asked for with `stop` is complete: every process of the service is gone. */
  | { type: "stopped"; name: string }
  /** Every service is stopped after a shutdown: sync, then exit with `exitCode` or reboot(2). */
  | { type: "power"; mode: PowerMode; exitCode: number };

/** What the shell tells the core. */
export type CoreEvent =
  | { type: "spawned"; name: string; role: Role; pid: number }
  | { type: "spawnFailed"; name: string; role: Role; error: string }
  /** A reaped child: the pid may be any process of any service, or an orphan of none. */
  | { type: "exited"; pid: number; status: ExitStatus }
  | { type: "drained"; name: string }
  | { type: "timer"; name: string; kind: TimerKind }
  | { type: "probeDone"; name: string; level: ProbeLevel; ok: boolean; detail: string }
  /**
   * A readiness notification from a process of the service (the shell checked that it is one):
   * systemd's `KEY=value` fields, or `{READY: "1"}` for a newline on the notify fd.
   */
  | { type: "notify"; name: string; pid: number; fields: Record<string, string> };
