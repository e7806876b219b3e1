// Readiness and liveness of one running service: what moves it from Spawned to Running (its
// `test`, a `health.ready` probe, or a notification from the service itself), and what checks it
// once Running (`health.live`, the systemd watchdog). The lifecycle (lifecycle.ts) starts this
// machine when the main process is spawned and ends it when the run ends; this machine answers
// with "ready" or "unhealthy", and never touches the lifecycle's own fields.

import type { Effect, LogLevel, ProbeLevel, Role, SpawnSpec, TimerKind } from "./effects.ts";
import { TEST_TIMEOUT_MS, testRetryDelay } from "./policy.ts";
import { SIGKILL } from "./signals.ts";
import { describeExit } from "./state.ts";
import type { ExitStatus, Probe, ServiceConfig } from "./types.ts";

/** A failing probe is logged on its first failure, when its reason changes, and at most this often otherwise. */
const FAILURE_LOG_INTERVAL_MS = 30_000;

export interface HealthState {
  ready: boolean;
  /** The readiness command could not be started (upstream's `TestFailure`). */
  testFailure: boolean;
  readyAttempts: number;
  /** Pid of the readiness / liveness command in flight, 0 if none. */
  readyPid: number;
  livePid: number;
  /** A tcp/http/log probe is in flight. */
  readyProbing: boolean;
  liveProbing: boolean;
  liveFailures: number;
  /** The last probe failure, e.g. "test exited with code 1 (attempt 3)"; "" once it passes. */
  lastFailure: string;
  loggedFailure: string;
  loggedAt: number;
  /** The last `STATUS=` a systemd-style service sent. */
  status: string;
  /** Between its `RELOADING=1` and the `READY=1` that says the reload is done (sd_notify(3)). */
  reloading: boolean;
  /** Failed checks since the service was monitored, per level (kept across runs, for metrics). */
  failures: Record<ProbeLevel, number>;
  /** When the check in flight began, per level. */
  probeStartedAt: Record<ProbeLevel, number>;
  /** How long the last finished check took, per level, in ms; null before the first. */
  lastProbeMs: Record<ProbeLevel, number | null>;
}

export function newHealth(): HealthState {
  return {
    ready: false,
    testFailure: false,
    readyAttempts: 0,
    readyPid: 0,
    livePid: 0,
    readyProbing: false,
    liveProbing: false,
    liveFailures: 0,
    lastFailure: "",
    loggedFailure: "",
    loggedAt: Number.NEGATIVE_INFINITY,
    status: "",
    reloading: false,
    failures: { ready: 0, live: 0 },
    probeStartedAt: { ready: 0, live: 0 },
    lastProbeMs: { ready: null, live: null },
  };
}

/** What the machine needs from its service: its name, config and health record. */
export interface HealthSubject {
  readonly name: string;
  readonly config: ServiceConfig;
  readonly health: HealthState;
}

export interface HealthContext {
  readonly now: number;
  readonly fx: Effect[];
  log(level: LogLevel, message: string): void;
}

export type Verdict = "ready" | { unhealthy: string } | null;

/** The readiness probe of a service: `health.ready`, else its 0.2 `test` (never for oneshots). */
function readinessProbe(config: ServiceConfig): Probe | null {
  if (config.notify !== null) return null;
  if (config.ready !== null) return config.ready;
  if (config.oneshot || config.test === "") return null;
  return {
    check: { kind: "exec", command: { line: config.test, argv: config.testArgv } },
    intervalMs: null,
    timeoutMs: TEST_TIMEOUT_MS,
  };
}

/** Does this service become Running by itself at spawn (no probe, no notification)? */
function readyAtSpawn(config: ServiceConfig): boolean {
  return config.notify === null && readinessProbe(config) === null;
}

/** A new run: forget the last one's results and start checking readiness. */
export function startRun(svc: HealthSubject, ctx: HealthContext): Verdict {
  const h = svc.health;
  Object.assign(h, {
    ...newHealth(),
    loggedFailure: h.loggedFailure,
    loggedAt: h.loggedAt,
    failures: h.failures,
    lastProbeMs: h.lastProbeMs,
  });
  if (readyAtSpawn(svc.config)) return becomeReady(svc, ctx);
  const probe = readinessProbe(svc.config);
  if (probe) attempt(svc, "ready", probe, ctx);
  // With `notify`, the service says when it is ready.
  return null;
}

/** The run is over (the main process exited, or the service is being stopped). */
export function endRun(svc: HealthSubject, ctx: HealthContext): void {
  const h = svc.health;
  for (const kind of ["ready", "readyTimeout", "live", "liveTimeout", "watchdog"] as const) {
    cancelTimer(svc, kind, ctx);
  }
  if (h.readyPid !== 0) killProbe(svc, "ready", h.readyPid, ctx);
  if (h.livePid !== 0) killProbe(svc, "live", h.livePid, ctx);
  if (h.readyProbing) ctx.fx.push({ type: "cancelProbe", name: svc.name, level: "ready" });
  if (h.liveProbing) ctx.fx.push({ type: "cancelProbe", name: svc.name, level: "live" });
  h.readyPid = 0;
  h.livePid = 0;
  h.readyProbing = false;
  h.liveProbing = false;
}

/** A probe command was started. */
export function probeSpawned(
  svc: HealthSubject,
  level: ProbeLevel,
  pid: number,
  ctx: HealthContext,
): void {
  const h = svc.health;
  if (level === "ready") h.readyPid = pid;
  else h.livePid = pid;
  const probe = level === "ready" ? readinessProbe(svc.config) : svc.config.live;
  const kind: TimerKind = level === "ready" ? "readyTimeout" : "liveTimeout";
  ctx.fx.push({ type: "timer", name: svc.name, kind, ms: probe?.timeoutMs ?? TEST_TIMEOUT_MS });
}

/** A probe command could not be started (missing binary, bad dir…). */
export function probeSpawnFailed(
  svc: HealthSubject,
  level: ProbeLevel,
  error: string,
  ctx: HealthContext,
): Verdict {
  if (level === "ready") svc.health.testFailure = true;
  return failed(svc, level, `${probeWord(svc, level)} failed to start: ${error}`, ctx);
}

/** A probe command exited: exit 0 passes. Pids that are not its probe's are ignored. */
export function probeExited(
  svc: HealthSubject,
  level: ProbeLevel,
  status: ExitStatus,
  ctx: HealthContext,
): Verdict {
  const h = svc.health;
  if (level === "ready") h.readyPid = 0;
  else h.livePid = 0;
  cancelTimer(svc, level === "ready" ? "readyTimeout" : "liveTimeout", ctx);
  if (status.kind === "exited" && status.code === 0) return passed(svc, level, ctx);
  return failed(svc, level, `${probeWord(svc, level)} ${describeExit(status)}`, ctx);
}

/** The shell's answer to a tcp/http/log probe. */
export function probeDone(
  svc: HealthSubject,
  level: ProbeLevel,
  ok: boolean,
  detail: string,
  ctx: HealthContext,
): Verdict {
  const h = svc.health;
  const inFlight = level === "ready" ? h.readyProbing : h.liveProbing;
  if (!inFlight) return null; // cancelled meanwhile
  if (level === "ready") h.readyProbing = false;
  else h.liveProbing = false;
  return ok
    ? passed(svc, level, ctx)
    : failed(svc, level, `${probeWord(svc, level)}: ${detail}`, ctx);
}

export function timer(svc: HealthSubject, kind: TimerKind, ctx: HealthContext): Verdict {
  const h = svc.health;
  switch (kind) {
    case "ready": {
      const probe = readinessProbe(svc.config);
      if (probe && !h.ready && h.readyPid === 0 && !h.readyProbing)
        attempt(svc, "ready", probe, ctx);
      return null;
    }
    case "live":
      if (svc.config.live && h.ready && h.livePid === 0 && !h.liveProbing) {
        attempt(svc, "live", svc.config.live, ctx);
      }
      return null;
    case "readyTimeout":
    case "liveTimeout": {
      const level: ProbeLevel = kind === "readyTimeout" ? "ready" : "live";
      const pid = level === "ready" ? h.readyPid : h.livePid;
      if (pid === 0) return null;
      const probe = level === "ready" ? readinessProbe(svc.config) : svc.config.live;
      ctx.log(
        "warn",
        `service ${svc.name}: ${probeWord(svc, level)} timed out after ${probe?.timeoutMs ?? TEST_TIMEOUT_MS} ms`,
      );
      // Its exit (killed) arrives as an ordinary failed attempt.
      killProbe(svc, level, pid, ctx);
      return null;
    }
    case "watchdog":
      if (!h.ready) return null;
      return { unhealthy: `no WATCHDOG=1 within ${svc.config.watchdogMs} ms` };
    default:
      return null;
  }
}

/** A notification from the service: READY=1, STATUS=, WATCHDOG=1 (the lifecycle handles the rest). */
export function notified(
  svc: HealthSubject,
  fields: Record<string, string>,
  ctx: HealthContext,
): Verdict {
  const h = svc.health;
  if (fields.STATUS !== undefined) h.status = fields.STATUS;
  if (fields.WATCHDOG === "1" && h.ready && svc.config.watchdogMs !== null) armWatchdog(svc, ctx);
  // A reload (systemd's Type=notify-reload) keeps the service Running and its dependents up: it
  // is shown and logged, from RELOADING=1 to the READY=1 that ends it.
  if (fields.RELOADING === "1" && h.ready && !h.reloading) {
    h.reloading = true;
    ctx.log("info", `service ${svc.name}: reloading (RELOADING=1)`);
  }
  if (fields.READY === "1" && h.reloading && fields.RELOADING !== "1") {
    h.reloading = false;
    ctx.log("info", `service ${svc.name}: reloaded (READY=1)`);
  }
  if (fields.READY === "1" && svc.config.notify !== null && !h.ready) return becomeReady(svc, ctx);
  return null;
}

// ---- internals ---------------------------------------------------------------------------------

function probeWord(svc: HealthSubject, level: ProbeLevel): string {
  if (level === "live") return "liveness check";
  return svc.config.ready === null ? "test" : "readiness check";
}

function attempt(svc: HealthSubject, level: ProbeLevel, probe: Probe, ctx: HealthContext): void {
  const h = svc.health;
  const check = probe.check;
  h.probeStartedAt[level] = ctx.now;
  if (check.kind === "exec") {
    const role: Role = level;
    const spec: SpawnSpec = {
      argv: check.command.argv,
      env: svc.config.env,
      cwd: svc.config.dir,
      log: svc.config.log,
      label: `${svc.name}/${level === "ready" ? "test" : "live"}`,
      notify: null,
      watchdogMs: null,
      watch: [],
    };
    ctx.fx.push({ type: "spawn", name: svc.name, role, spec });
    return;
  }
  if (level === "ready") h.readyProbing = true;
  else h.liveProbing = true;
  ctx.fx.push({ type: "probe", name: svc.name, level, check, timeoutMs: probe.timeoutMs });
}

/** A check of `level` finished now: how long it took. */
function finished(h: HealthState, level: ProbeLevel, now: number): void {
  h.lastProbeMs[level] = Math.max(0, now - h.probeStartedAt[level]);
}

function passed(svc: HealthSubject, level: ProbeLevel, ctx: HealthContext): Verdict {
  const h = svc.health;
  finished(h, level, ctx.now);
  if (h.lastFailure !== "") {
    ctx.log("info", `service ${svc.name}: ${probeWord(svc, level)} passed`);
    h.lastFailure = "";
    h.loggedFailure = "";
  }
  if (level === "ready") return h.ready ? null : becomeReady(svc, ctx);
  h.liveFailures = 0;
  scheduleLive(svc, ctx);
  return null;
}

function failed(
  svc: HealthSubject,
  level: ProbeLevel,
  reason: string,
  ctx: HealthContext,
): Verdict {
  const h = svc.health;
  finished(h, level, ctx.now);
  if (level === "ready") {
    if (h.ready) return null;
    h.failures.ready++;
    h.readyAttempts++;
    const probe = readinessProbe(svc.config);
    const delay = probe?.intervalMs ?? testRetryDelay(h.readyAttempts);
    report(
      svc,
      `${reason} (attempt ${h.readyAttempts}); retrying in ${seconds(delay)}`,
      reason,
      ctx,
    );
    ctx.fx.push({ type: "timer", name: svc.name, kind: "ready", ms: delay });
    return null;
  }
  const live = svc.config.live;
  if (!live || !h.ready) return null;
  h.failures.live++;
  h.liveFailures++;
  const count = `${h.liveFailures} of ${live.failureThreshold}`;
  if (h.liveFailures >= live.failureThreshold) {
    h.lastFailure = reason;
    return { unhealthy: `${reason} (${count} in a row)` };
  }
  report(svc, `${reason} (${count})`, reason, ctx);
  scheduleLive(svc, ctx);
  return null;
}

/** Logs a failing probe on its first failure, when its reason changes, or every 30 s. */
function report(svc: HealthSubject, line: string, reason: string, ctx: HealthContext): void {
  const h = svc.health;
  h.lastFailure = line;
  if (reason !== h.loggedFailure || ctx.now - h.loggedAt >= FAILURE_LOG_INTERVAL_MS) {
    h.loggedFailure = reason;
    h.loggedAt = ctx.now;
    ctx.log("warn", `service ${svc.name}: ${line}`);
  }
}

function becomeReady(svc: HealthSubject, ctx: HealthContext): Verdict {
  const h = svc.health;
  h.ready = true;
  h.readyAttempts = 0;
  h.testFailure = false;
  cancelTimer(svc, "ready", ctx);
  scheduleLive(svc, ctx);
  if (svc.config.notify?.kind === "systemd" && svc.config.watchdogMs !== null)
    armWatchdog(svc, ctx);
  return "ready";
}

function scheduleLive(svc: HealthSubject, ctx: HealthContext): void {
  const live = svc.config.live;
  if (!live) return;
  const ms = live.intervalMs ?? 0;
  ctx.fx.push({ type: "timer", name: svc.name, kind: "live", ms });
}

function armWatchdog(svc: HealthSubject, ctx: HealthContext): void {
  ctx.fx.push({ type: "timer", name: svc.name, kind: "watchdog", ms: svc.config.watchdogMs ?? 0 });
}

function killProbe(svc: HealthSubject, level: ProbeLevel, pid: number, ctx: HealthContext): void {
  ctx.fx.push({ type: "killGroup", name: svc.name, role: level, pid, signal: SIGKILL });
}

function cancelTimer(svc: HealthSubject, kind: TimerKind, ctx: HealthContext): void {
  ctx.fx.push({ type: "cancelTimer", name: svc.name, kind });
}

function seconds(ms: number): string {
  return ms >= 1000 ? `${Number((ms / 1000).toFixed(1))} s` : `${ms} ms`;
}
