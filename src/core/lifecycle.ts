// The lifecycle of one service as an explicit transition table: for every phase and every event,
// the action taken, in one place (`TRANSITIONS` below). Upstream's state strings are derived from
// the phase and the outcome of the last run (`upstreamState`), never kept as a second variable.
// Readiness and liveness are their own machine (health.ts); the ordered shutdown is another
// (shutdown.ts); the supervisor (supervisor.ts) routes events here and owns everything that
// spans services.

import type { SpawnSpec } from "./effects.ts";
import * as health from "./health.ts";
import { KILL_GRACE_MS, restartDelay } from "./policy.ts";
import { SIGKILL, signalName } from "./signals.ts";
import { describeExit, exitState, isSuccess, shellExitCode, stateString } from "./state.ts";
import type { ExitStatus, ServiceConfig, State, Target } from "./types.ts";

export type Phase =
  | "idle" // nothing scheduled: target Down, a finished oneshot, given up, or never started
  | "blocked" // target Up, waiting for `after`
  | "starting" // the spawn was asked for; its result comes next
  | "running" // the main process is alive (ready or not yet)
  | "backoff" // target Up, waiting out the restart delay
  | "stopping"; // stop signal (or `stop` command) sent; waiting for every process to be gone

export const PHASES: readonly Phase[] = [
  "idle",
  "blocked",
  "starting",
  "running",
  "backoff",
  "stopping",
];

/** What the last run left behind. */
export type Outcome =
  | { kind: "none" }
  | { kind: "exited"; pid: number; status: ExitStatus }
  | { kind: "spawnFailed"; error: string }
  /** The restart budget is spent: not restarted until `start`. */
  | { kind: "gaveUp"; reason: string; exitCode: number };

export interface Service extends health.HealthSubject {
  readonly name: string;
  config: ServiceConfig;
  target: Target;
  phase: Phase;
  outcome: Outcome;
  pid: number;
  health: health.HealthState;
  /** Quick crashes (or spawn failures) in a row, for the backoff. */
  failures: number;
  /** When each restart within the current window happened, for `max_restarts`. */
  restarts: number[];
  /** Restarts since the service was monitored. */
  restartCount: number;
  spawnedAt: number;
  /** While in backoff: when the restart is due. */
  restartAt: number;
  // While stopping:
  mainGone: boolean;
  drained: boolean;
  /** The run is being ended as a failure (start timeout, failed liveness), not by request. */
  failRun: boolean;
  /** The `stop` command's pid while it runs. */
  hookPid: number;
  /** The `stop` command was asked for and has not ended yet. */
  hookPending: boolean;
  /** When the stop began, and what made the service go: "SIGTERM", "stop command", "SIGKILL". */
  stopBegan: number;
  stopHow: string;
  /** The stop had a main process to stop (a sweep of a stopped service is not narrated). */
  stopHadMain: boolean;
  /** The blocked-reason last logged, so a waiting service is reported once, not per event. */
  blockedReason: string;
  /** Why the last change happened, for status and events. */
  reason: string;
  /** How the main process last ended, for events. */
  lastExit: ExitStatus | null;
}

export function newService(name: string, config: ServiceConfig): Service {
  return {
    name,
    config,
    target: "Up",
    phase: "idle",
    outcome: { kind: "none" },
    pid: 0,
    health: health.newHealth(),
    failures: 0,
    restarts: [],
    restartCount: 0,
    spawnedAt: 0,
    restartAt: 0,
    mainGone: true,
    drained: true,
    failRun: false,
    hookPid: 0,
    hookPending: false,
    stopBegan: 0,
    stopHow: "",
    stopHadMain: false,
    blockedReason: "",
    reason: "",
    lastExit: null,
  };
}

/** Upstream's state, derived from the phase, the health machine and the last outcome. */
export function upstreamState(svc: Service): State {
  if (svc.phase === "blocked") return { kind: "Blocked" };
  if (svc.pid !== 0 && (svc.phase === "running" || svc.phase === "stopping")) {
    if (svc.health.ready) return { kind: "Running" };
    return svc.health.testFailure ? { kind: "TestFailure" } : { kind: "Spawned" };
  }
  const o = svc.outcome;
  switch (o.kind) {
    case "none":
      return { kind: "Unknown" };
    case "exited":
      return exitState(o.pid, o.status, svc.config.successExitCodes);
    case "spawnFailed":
    case "gaveUp":
      return { kind: "Failure" };
  }
}

export const stateOf = (svc: Service): string => stateString(upstreamState(svc));

/** Does `svc` let its dependents start: Running (not a oneshot), or a oneshot that succeeded? */
export function satisfies(svc: Service): boolean {
  const state = upstreamState(svc).kind;
  return state === "Success" || (state === "Running" && !svc.config.oneshot);
}

/** What the lifecycle needs from the rest of the supervisor. */
export interface LifecycleContext extends health.HealthContext {
  readonly shuttingDown: boolean;
  /** The dependencies of `svc` that are not satisfied, each described ("'db' (failed: …)"). */
  waitingFor(svc: Service): string[];
  /** `svc` failed for good (budget spent, or `restart: never` and it failed). */
  failedForGood(svc: Service, exitCode: number): void;
  /** `svc` (with `exit_on_success`) finished successfully. */
  finishedJob(svc: Service): void;
  /** Every process of `svc` is gone after a stop. */
  stopDone(svc: Service): void;
  /** Reports the service's state now, before the same event moves it on (an exit, then a restart). */
  checkpoint(svc: Service): void;
}

export type LifecycleEvent =
  | { kind: "start" } // target set Up by a command
  | { kind: "stop" } // target set Down by a command or the shutdown
  | { kind: "deps" } // a dependency changed
  | { kind: "spawned"; pid: number }
  | { kind: "spawnFailed"; error: string }
  | { kind: "exited"; status: ExitStatus } // the main process
  | { kind: "drained" } // no process of the service is left
  | { kind: "restartTimer" }
  | { kind: "killTimer" }
  | { kind: "giveUpTimer" }
  | { kind: "startTimeout" }
  | { kind: "ready" } // from the health machine
  | { kind: "unhealthy"; reason: string } // from the health machine
  | { kind: "hookSpawned"; pid: number } // the `stop` command started
  | { kind: "hookFailed"; error: string } // … could not start
  | { kind: "hookExited"; status: ExitStatus }; // … ended

type EventKind = LifecycleEvent["kind"];

export const EVENT_KINDS: readonly EventKind[] = [
  "start",
  "stop",
  "deps",
  "spawned",
  "spawnFailed",
  "exited",
  "drained",
  "restartTimer",
  "killTimer",
  "giveUpTimer",
  "startTimeout",
  "ready",
  "unhealthy",
  "hookSpawned",
  "hookFailed",
  "hookExited",
];

type Handler<K extends EventKind> = (
  svc: Service,
  ev: Extract<LifecycleEvent, { kind: K }>,
  ctx: LifecycleContext,
) => void;

type Row = { [K in EventKind]: Handler<K> };

// ---- actions -----------------------------------------------------------------------------------

/** Nothing to do in this phase (a stale timer, a repeated command). */
const ignore = () => {};

/**
 * Events that cannot reach this phase: the shell answers a spawn before anything else happens,
 * and timers are cancelled when their phase ends. Logged, never thrown: PID 1 goes on.
 */
const unexpected = (svc: Service, ev: LifecycleEvent, ctx: LifecycleContext) =>
  ctx.log("debug", `service ${svc.name}: ignored ${ev.kind} while ${svc.phase}`);

/** Target Up and nothing running: spawn it, or wait for its dependencies. */
function schedule(svc: Service, _ev: unknown, ctx: LifecycleContext): void {
  if (svc.target !== "Up" || ctx.shuttingDown) {
    svc.phase = "idle";
    return;
  }
  const waiting = ctx.waitingFor(svc);
  if (waiting.length > 0) {
    svc.phase = "blocked";
    svc.reason = `waiting for ${waiting.join(", ")}`;
    if (svc.reason !== svc.blockedReason) {
      svc.blockedReason = svc.reason;
      ctx.log("info", `service ${svc.name} is ${svc.reason}`);
    }
    return;
  }
  svc.blockedReason = "";
  svc.phase = "starting";
  svc.reason = "starting";
  ctx.fx.push({ type: "spawn", name: svc.name, role: "main", spec: mainSpec(svc) });
}

/** An explicit start: a fresh budget and backoff, and no waiting out a pending delay. */
function startFresh(svc: Service, ev: unknown, ctx: LifecycleContext): void {
  svc.failures = 0;
  svc.restarts = [];
  cancel(svc, "restart", ctx);
  schedule(svc, ev, ctx);
}

function mainSpec(svc: Service): SpawnSpec {
  const c = svc.config;
  return {
    argv: c.argv,
    env: c.env,
    cwd: c.dir,
    log: c.log,
    label: svc.name,
    notify: c.notify,
    watchdogMs: c.notify?.kind === "systemd" ? c.watchdogMs : null,
    watch: logWatches(c),
  };
}

/** The log probes among the service's probes, whichever level they check. */
function logWatches(c: ServiceConfig): SpawnSpec["watch"] {
  const watch: SpawnSpec["watch"] = [];
  if (c.ready?.check.kind === "log") watch.push({ level: "ready", pattern: c.ready.check.pattern });
  if (c.live?.check.kind === "log") watch.push({ level: "live", pattern: c.live.check.pattern });
  return watch;
}

function spawned(svc: Service, ev: { pid: number }, ctx: LifecycleContext): void {
  svc.pid = ev.pid;
  svc.phase = "running";
  svc.spawnedAt = ctx.now;
  svc.reason = "spawned";
  if (svc.config.startTimeoutMs !== null) {
    ctx.fx.push({
      type: "timer",
      name: svc.name,
      kind: "startTimeout",
      ms: svc.config.startTimeoutMs,
    });
  }
  if (health.startRun(svc, ctx) === "ready") ready(svc, ev, ctx);
}

function ready(svc: Service, _ev: unknown, ctx: LifecycleContext): void {
  svc.reason = "ready";
  cancel(svc, "startTimeout", ctx);
}

function spawnFailed(svc: Service, ev: { error: string }, ctx: LifecycleContext): void {
  svc.outcome = { kind: "spawnFailed", error: ev.error };
  svc.pid = 0;
  afterRun(svc, null, `failed to start: ${ev.error}`, ctx);
}

function mainExited(svc: Service, ev: { status: ExitStatus }, ctx: LifecycleContext): void {
  endMain(svc, ev.status, ctx);
  health.endRun(svc, ctx);
  cancel(svc, "startTimeout", ctx);
  afterRun(svc, ev.status, describeExit(ev.status), ctx);
}

function endMain(svc: Service, status: ExitStatus, _ctx: LifecycleContext): void {
  svc.outcome = { kind: "exited", pid: svc.pid, status };
  svc.lastExit = status;
  svc.pid = 0;
}

/**
 * A run ended (`status` null: it never started). Decides, by the restart policy, the budget and
 * the backoff, whether and when the service runs again; a final failure of a critical service
 * and the end of an `exit_on_success` job are reported to the supervisor.
 */
function afterRun(
  svc: Service,
  status: ExitStatus | null,
  what: string,
  ctx: LifecycleContext,
): void {
  const c = svc.config;
  const success = status !== null && !svc.failRun && isSuccess(status, c.successExitCodes);
  svc.failRun = false;
  svc.phase = "idle";
  svc.reason = what;
  const exitCode = status === null ? 127 : shellExitCode(status);
  if (svc.target !== "Up" || ctx.shuttingDown) return;
  if (success && c.exitOnSuccess) {
    ctx.log("info", `service ${svc.name} ${what}: its job is done`);
    ctx.finishedJob(svc);
    return;
  }
  // A spawn failure is always retried (it never ran, so `restart` does not apply to it).
  const again =
    status === null || c.restart === "always" || (c.restart === "on-failure" && !success);
  if (!again) {
    const level = success ? "info" : "warn";
    ctx.log(level, `service ${svc.name} ${what}`);
    if (!success && c.critical) ctx.failedForGood(svc, exitCode);
    return;
  }
  if (c.maxRestarts > 0) {
    const since = ctx.now - c.restartWindowMs;
    svc.restarts = svc.restarts.filter((t) => t > since);
    if (svc.restarts.length >= c.maxRestarts) {
      const reason = `${c.maxRestarts} restarts within ${seconds(c.restartWindowMs)}`;
      svc.outcome = { kind: "gaveUp", reason, exitCode };
      svc.reason = `${what}; gave up after ${reason}`;
      ctx.log("error", `service ${svc.name} ${svc.reason} ('zinit start ${svc.name}' tries again)`);
      if (c.critical) ctx.failedForGood(svc, exitCode);
      return;
    }
    svc.restarts.push(ctx.now);
  }
  svc.restartCount++;
  if (status !== null && ctx.now - svc.spawnedAt >= c.stabilityPeriodMs) svc.failures = 0;
  // A spawn failure backs off from its first occurrence: a missing binary must not spin.
  if (status === null) svc.failures++;
  const delay = restartDelay(svc.failures, c.restartDelayMs, c.restartDelayMaxMs);
  if (status !== null) svc.failures++;
  svc.reason = `${what}; restarting${delay ? ` in ${delay} ms` : ""}`;
  // Logged before the respawn, so the ring reads in causal order.
  ctx.log(status === null ? "error" : "warn", `service ${svc.name} ${svc.reason}`);
  if (delay === 0) {
    // The exit is a change of its own, though the restart follows in the same step.
    ctx.checkpoint(svc);
    schedule(svc, null, ctx);
  } else {
    svc.phase = "backoff";
    svc.restartAt = ctx.now + delay;
    ctx.fx.push({ type: "timer", name: svc.name, kind: "restart", ms: delay });
  }
}

function restartDue(svc: Service, ev: unknown, ctx: LifecycleContext): void {
  svc.phase = "idle";
  schedule(svc, ev, ctx);
}

/** Stops whatever the service has: its main process, and leftovers of earlier runs. */
function beginStop(svc: Service, _ev: unknown, ctx: LifecycleContext): void {
  const wasRunning = svc.phase === "running";
  // Still starting: its spawn waits in the shell's queue; a shutdown must not wait for it.
  if (svc.phase === "starting") ctx.fx.push({ type: "cancelSpawn", name: svc.name });
  cancel(svc, "restart", ctx);
  cancel(svc, "startTimeout", ctx);
  if (wasRunning) health.endRun(svc, ctx);
  svc.phase = "stopping";
  svc.mainGone = svc.pid === 0;
  svc.drained = false;
  svc.stopBegan = ctx.now;
  svc.stopHadMain = svc.pid !== 0;
  svc.reason = svc.failRun ? svc.reason : "stopping";
  ctx.fx.push({
    type: "timer",
    name: svc.name,
    kind: "kill",
    ms: svc.config.shutdownTimeout * 1000,
  });
  const hook = svc.config.stop;
  if (hook && svc.pid !== 0 && !svc.failRun) {
    // The service's own way first; the stop signal follows when the command ends.
    svc.hookPending = true;
    svc.stopHow = "stop command";
    ctx.fx.push({
      type: "spawn",
      name: svc.name,
      role: "stop",
      spec: {
        argv: hook.argv,
        env: svc.config.env,
        cwd: svc.config.dir,
        log: svc.config.log,
        label: `${svc.name}/stop`,
        notify: null,
        watchdogMs: null,
        watch: [],
      },
    });
    return;
  }
  // Even with no main process, earlier runs may have left processes behind (a oneshot that
  // started a background job): the sweep covers them, and `drained` comes back at once if none.
  svc.stopHow = signalName(svc.config.stopSignal);
  signalAll(svc, svc.config.stopSignal, ctx);
}

/** End the run as a failure: stopped like a stop, then the restart policy applies. */
function failRun(svc: Service, reason: string, ctx: LifecycleContext): void {
  svc.failRun = true;
  svc.reason = reason;
  ctx.log("warn", `service ${svc.name}: ${reason}; stopping it`);
  beginStop(svc, null, ctx);
}

function startTimedOut(svc: Service, _ev: unknown, ctx: LifecycleContext): void {
  if (svc.health.ready) return;
  failRun(svc, `not Running within ${svc.config.startTimeoutMs} ms`, ctx);
}

function unhealthy(svc: Service, ev: { reason: string }, ctx: LifecycleContext): void {
  failRun(svc, ev.reason, ctx);
}

function signalAll(svc: Service, signal: number, ctx: LifecycleContext): void {
  ctx.fx.push({ type: "signal", name: svc.name, pid: svc.pid, signal });
}

function exitedWhileStopping(
  svc: Service,
  ev: { status: ExitStatus },
  ctx: LifecycleContext,
): void {
  endMain(svc, ev.status, ctx);
  svc.mainGone = true;
  finishStopIfDone(svc, ctx);
}

function drainedWhileStopping(svc: Service, _ev: unknown, ctx: LifecycleContext): void {
  svc.drained = true;
  finishStopIfDone(svc, ctx);
}

/** A start that arrives while stopping: the stop completes, then target Up restarts it. */
function startWhileStopping(svc: Service, _ev: unknown, _ctx: LifecycleContext): void {
  svc.failRun = false;
  svc.failures = 0;
  svc.restarts = [];
}

/** A late spawn result while stopping (a stop raced its spawn): stop the new process too. */
function spawnedWhileStopping(svc: Service, ev: { pid: number }, ctx: LifecycleContext): void {
  svc.pid = ev.pid;
  svc.mainGone = false;
  signalAll(svc, svc.config.stopSignal, ctx);
}

function spawnFailedWhileStopping(
  svc: Service,
  ev: { error: string },
  ctx: LifecycleContext,
): void {
  svc.outcome = { kind: "spawnFailed", error: ev.error };
  svc.mainGone = true;
  finishStopIfDone(svc, ctx);
}

function killTimer(svc: Service, _ev: unknown, ctx: LifecycleContext): void {
  ctx.log(
    "warn",
    `service ${svc.name} did not stop in ${svc.config.shutdownTimeout} s: sending SIGKILL`,
  );
  if (svc.hookPid !== 0) killHook(svc, ctx);
  svc.hookPending = false;
  svc.stopHow = "SIGKILL";
  signalAll(svc, SIGKILL, ctx);
  ctx.fx.push({ type: "timer", name: svc.name, kind: "giveUp", ms: KILL_GRACE_MS });
}

function giveUpTimer(svc: Service, _ev: unknown, ctx: LifecycleContext): void {
  ctx.log(
    "error",
    `service ${svc.name}: processes still present ${KILL_GRACE_MS} ms after SIGKILL; giving up on them`,
  );
  svc.mainGone = true;
  svc.drained = true;
  svc.pid = 0;
  finishStopIfDone(svc, ctx);
}

function finishStopIfDone(svc: Service, ctx: LifecycleContext): void {
  if (!svc.mainGone || !svc.drained || svc.hookPending) return;
  if (svc.hookPid !== 0) killHook(svc, ctx);
  cancel(svc, "kill", ctx);
  cancel(svc, "giveUp", ctx);
  const took = svc.reason;
  svc.phase = "idle";
  svc.reason = svc.failRun ? took : "stopped";
  if (svc.stopHadMain) {
    const secs = ((ctx.now - svc.stopBegan) / 1000).toFixed(2);
    ctx.log("info", `stopped ${svc.name} in ${secs} s (${svc.stopHow})`);
  }
  ctx.stopDone(svc);
  if (svc.target !== "Up") return;
  if (svc.failRun) {
    const status = svc.outcome.kind === "exited" ? svc.outcome.status : null;
    afterRun(
      svc,
      status ?? { kind: "signaled", signal: svc.config.stopSignal, core: false },
      took,
      ctx,
    );
  } else {
    schedule(svc, null, ctx);
  }
}

function hookSpawned(svc: Service, ev: { pid: number }, _ctx: LifecycleContext): void {
  svc.hookPid = ev.pid;
}

function hookEnded(svc: Service, outcome: string, ctx: LifecycleContext): void {
  svc.hookPid = 0;
  if (!svc.hookPending) return;
  svc.hookPending = false;
  if (outcome !== "") ctx.log("warn", `service ${svc.name}: stop command ${outcome}`);
  // Whatever the command left running gets the stop signal; with nothing left, the sweep is
  // answered at once.
  signalAll(svc, svc.config.stopSignal, ctx);
}

function hookFailed(svc: Service, ev: { error: string }, ctx: LifecycleContext): void {
  hookEnded(svc, `failed to start: ${ev.error}`, ctx);
}

function hookExited(svc: Service, ev: { status: ExitStatus }, ctx: LifecycleContext): void {
  const clean = ev.status.kind === "exited" && ev.status.code === 0;
  hookEnded(svc, clean ? "" : describeExit(ev.status), ctx);
}

function killHook(svc: Service, ctx: LifecycleContext): void {
  ctx.fx.push({
    type: "killGroup",
    name: svc.name,
    role: "stop",
    pid: svc.hookPid,
    signal: SIGKILL,
  });
  svc.hookPid = 0;
}

function cancel(
  svc: Service,
  kind: "restart" | "startTimeout" | "kill" | "giveUp",
  ctx: LifecycleContext,
): void {
  ctx.fx.push({ type: "cancelTimer", name: svc.name, kind });
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

// ---- the table ---------------------------------------------------------------------------------

/** For every phase, what each event does. A missing cell is a compile error (and a test failure). */
export const TRANSITIONS: { readonly [P in Phase]: Row } = {
  idle: {
    start: startFresh,
    stop: beginStop,
    deps: ignore,
    spawned: unexpected,
    spawnFailed: unexpected,
    exited: ignore,
    drained: ignore,
    restartTimer: ignore,
    killTimer: ignore,
    giveUpTimer: ignore,
    startTimeout: ignore,
    ready: ignore,
    unhealthy: ignore,
    hookSpawned: unexpected,
    hookFailed: ignore,
    hookExited: ignore,
  },
  blocked: {
    start: ignore,
    stop: beginStop,
    deps: schedule,
    spawned: unexpected,
    spawnFailed: unexpected,
    exited: ignore,
    drained: ignore,
    restartTimer: ignore,
    killTimer: ignore,
    giveUpTimer: ignore,
    startTimeout: ignore,
    ready: ignore,
    unhealthy: ignore,
    hookSpawned: unexpected,
    hookFailed: ignore,
    hookExited: ignore,
  },
  starting: {
    start: ignore,
    // The spawn is still queued (a batch is sliced): it is cancelled, and the sweep runs.
    stop: beginStop,
    deps: ignore,
    spawned,
    spawnFailed,
    exited: unexpected,
    drained: ignore,
    restartTimer: unexpected,
    killTimer: unexpected,
    giveUpTimer: unexpected,
    startTimeout: unexpected,
    ready: unexpected,
    unhealthy: unexpected,
    hookSpawned: unexpected,
    hookFailed: unexpected,
    hookExited: unexpected,
  },
  running: {
    start: ignore,
    stop: beginStop,
    deps: ignore,
    spawned: unexpected,
    spawnFailed: unexpected,
    exited: mainExited,
    drained: ignore,
    restartTimer: ignore,
    killTimer: ignore,
    giveUpTimer: ignore,
    startTimeout: startTimedOut,
    ready,
    unhealthy,
    hookSpawned: unexpected,
    hookFailed: ignore,
    hookExited: ignore,
  },
  backoff: {
    start: startFresh,
    stop: beginStop,
    deps: ignore,
    spawned: unexpected,
    spawnFailed: unexpected,
    exited: ignore,
    drained: ignore,
    restartTimer: restartDue,
    killTimer: ignore,
    giveUpTimer: ignore,
    startTimeout: ignore,
    ready: ignore,
    unhealthy: ignore,
    hookSpawned: unexpected,
    hookFailed: ignore,
    hookExited: ignore,
  },
  stopping: {
    start: startWhileStopping,
    stop: ignore,
    deps: ignore,
    spawned: spawnedWhileStopping,
    spawnFailed: spawnFailedWhileStopping,
    exited: exitedWhileStopping,
    drained: drainedWhileStopping,
    restartTimer: ignore,
    killTimer,
    giveUpTimer,
    startTimeout: ignore,
    ready: ignore,
    unhealthy: ignore,
    hookSpawned,
    hookFailed,
    hookExited,
  },
};

/** The one dispatch point of the lifecycle. */
export function dispatch(svc: Service, ev: LifecycleEvent, ctx: LifecycleContext): void {
  const handler = TRANSITIONS[svc.phase][ev.kind] as (
    svc: Service,
    ev: LifecycleEvent,
    ctx: LifecycleContext,
  ) => void;
  handler(svc, ev, ctx);
}
