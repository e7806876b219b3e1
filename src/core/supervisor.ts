// The supervision core: every decision about services is made here and in the machines it routes
// to (lifecycle.ts per service, health.ts for readiness and liveness, shutdown.ts for the ordered
// shutdown). It is fed commands and events by the shell (src/shell/) and answers with effects for
// the shell to carry out. No I/O, no clocks, no processes: `now` comes with each call, so all of
// it is unit-testable. Work that one change causes in other services (a dependency became
// Running, a stop completed during a shutdown) goes through one work queue, never recursion, so
// a chain of any length costs no stack.

import type { CoreEvent, Effect, LogLevel, PowerMode, Role, ServiceChange } from "./effects.ts";
import { alreadyMonitored, isDown, isUp, notFound, shuttingDown } from "./errors.ts";
import { findCycles } from "./graph.ts";
import * as health from "./health.ts";
import {
  dispatch,
  type LifecycleContext,
  type LifecycleEvent,
  newService,
  type Phase,
  type Service,
  satisfies,
  stateOf,
  upstreamState,
} from "./lifecycle.ts";
import { ShutdownOrder } from "./shutdown.ts";
import { isSuccess, stateString } from "./state.ts";
import type { ExitStatus, ServiceConfig, Target } from "./types.ts";

/** What a wait can wait for (`service_wait`, `zinit wait`). */
export type WaitCondition = "running" | "exited" | "stopped" | "failed";

/** `service_status`: upstream's shape. */
export interface ServiceStatus {
  name: string;
  pid: number;
  state: string;
  target: Target;
  after: Record<string, string>;
}

/** `service_inspect`: everything upstream's status does not carry. */
export interface ServiceDetail extends ServiceStatus {
  phase: Phase;
  ready: boolean;
  /** Why the service is where it is: "waiting for 'db'", "exited with code 1; restarting in 200 ms". */
  reason: string;
  restarts: number;
  /** Restarts left in the current window; null without `max_restarts`. */
  restarts_left: number | null;
  /** While in backoff: milliseconds until the restart. */
  next_restart_ms: number | null;
  last_exit: { code: number | null; signal: number | null } | null;
  /** Milliseconds since the main process was spawned, while it runs. */
  uptime_ms: number | null;
  critical: boolean;
  /** The last `STATUS=` of a systemd-style service. */
  status_text: string;
  /** Between its `RELOADING=1` and the `READY=1` that ends the reload. */
  reloading: boolean;
  /** The last failed readiness or liveness check, "" when the last one passed. */
  check_failure: string;
  /** Runs once: it is done (and lets dependents start) when it has exited successfully. */
  oneshot: boolean;
  /** Per check level (readiness, liveness): failures since monitored, and the last one's length. */
  probes: Record<"ready" | "live", { failures: number; last_duration_ms: number | null }>;
}

export interface SupervisorOptions {
  /** PID 1 of a machine: a critical failure powers off or reboots instead of exiting. */
  canPower: boolean;
}

interface Shutdown {
  mode: PowerMode;
  exitCode: number;
  order: ShutdownOrder;
  /** The `power` effect has been emitted. */
  ended: boolean;
}

const LIFECYCLE_TIMERS = new Set(["restart", "kill", "giveUp", "startTimeout"]);

export class Supervisor {
  private readonly services = new Map<string, Service>();
  /**
   * Every process of ours the core knows: main processes, probe commands, stop commands.
   * `announced`: a main process that a `MAINPID=` named; `superseded`: one that a `MAINPID=`
   * replaced, which may still be running.
   */
  private readonly owners = new Map<
    number,
    { name: string; role: Role; announced?: boolean; superseded?: boolean }
  >();
  /** Name → the services whose `after` names it (also for names not monitored yet). */
  private readonly dependents = new Map<string, Set<string>>();
  /** The last view reported in a `changed` effect, per service. */
  private readonly views = new Map<string, string>();
  private shutdownState: Shutdown | null = null;

  // Per call: the clock, the effects produced, and the work still to do.
  private now = 0;
  private fx: Effect[] = [];
  private readonly work: Array<[Service, LifecycleEvent]> = [];
  private readonly touched = new Set<Service>();
  private readonly exits = new Map<Service, ExitStatus>();
  private readonly ctx: LifecycleContext;

  constructor(private readonly opts: SupervisorOptions = { canPower: false }) {
    const self = this;
    this.ctx = {
      get now() {
        return self.now;
      },
      get fx() {
        return self.fx;
      },
      get shuttingDown() {
        return self.shutdownState !== null;
      },
      log: (level, message) => self.log(level, message),
      waitingFor: (svc) => self.waitingFor(svc),
      failedForGood: (svc, code) => self.failedForGood(svc, code),
      finishedJob: (svc) => self.finishedJob(svc),
      stopDone: (svc) => self.stopDone(svc),
      checkpoint: (svc) => self.report(svc),
    };
  }

  get shuttingDown(): boolean {
    return this.shutdownState !== null;
  }

  // ---- queries -----------------------------------------------------------------------------------

  has(name: string): boolean {
    return this.services.has(name);
  }

  names(): string[] {
    return [...this.services.keys()].sort();
  }

  config(name: string): ServiceConfig {
    return this.get(name).config;
  }

  list(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const name of this.names()) out[name] = stateOf(this.get(name));
    return out;
  }

  status(name: string): ServiceStatus {
    const svc = this.get(name);
    const after: Record<string, string> = {};
    for (const dep of svc.config.after) {
      const d = this.services.get(dep);
      after[dep] = d ? stateOf(d) : "Unknown";
    }
    return { name, pid: svc.pid, state: stateOf(svc), target: svc.target, after };
  }

  inspect(name: string, now: number): ServiceDetail {
    const svc = this.get(name);
    const c = svc.config;
    const inWindow = svc.restarts.filter((t) => t > now - c.restartWindowMs).length;
    const exit = svc.lastExit;
    return {
      ...this.status(name),
      phase: svc.phase,
      ready: isReady(svc),
      reason: svc.reason,
      restarts: svc.restartCount,
      restarts_left: c.maxRestarts > 0 ? Math.max(0, c.maxRestarts - inWindow) : null,
      next_restart_ms: svc.phase === "backoff" ? Math.max(0, svc.restartAt - now) : null,
      last_exit: exit
        ? exit.kind === "exited"
          ? { code: exit.code, signal: null }
          : { code: null, signal: exit.signal }
        : null,
      uptime_ms: svc.pid !== 0 ? Math.max(0, now - svc.spawnedAt) : null,
      critical: c.critical,
      status_text: svc.health.status,
      reloading: svc.health.reloading,
      check_failure: svc.health.lastFailure,
      oneshot: c.oneshot,
      probes: {
        ready: {
          failures: svc.health.failures.ready,
          last_duration_ms: svc.health.lastProbeMs.ready,
        },
        live: { failures: svc.health.failures.live, last_duration_ms: svc.health.lastProbeMs.live },
      },
    };
  }

  /** The service as a change record: what an event subscriber starts from. */
  view(name: string): ServiceChange {
    const svc = this.get(name);
    return {
      name,
      state: stateOf(svc),
      target: svc.target,
      pid: svc.pid,
      reason: svc.reason,
      exit: svc.lastExit,
      phase: svc.phase,
      ready: isReady(svc),
    };
  }

  /**
   * Where a service stands against a wait condition: met now, still possible, or impossible
   * without a command (waiting for running on a service that failed for good or was stopped).
   */
  condition(name: string, cond: WaitCondition): "met" | "pending" | "impossible" {
    const svc = this.get(name);
    const o = svc.outcome;
    const ended = svc.pid === 0 && svc.phase !== "starting" && o.kind !== "none";
    const unsuccessful =
      o.kind === "gaveUp" ||
      o.kind === "spawnFailed" ||
      (o.kind === "exited" && !isSuccess(o.status, svc.config.successExitCodes));
    switch (cond) {
      case "running":
        if (satisfies(svc)) return "met";
        // Idle means nothing will start it again: stopped, given up, or never restarted.
        return svc.phase === "idle" ? "impossible" : "pending";
      case "exited":
        return ended ? "met" : "pending";
      case "stopped":
        return svc.target === "Down" && svc.phase === "idle" ? "met" : "pending";
      case "failed":
        return ended && unsuccessful ? "met" : "pending";
    }
  }

  /** The main pid, or ServiceIsDown when there is none (kill, stats). */
  requireRunning(name: string): number {
    const svc = this.get(name);
    if (svc.pid === 0) throw isDown(name);
    return svc.pid;
  }

  /** Whether the main process is one that a `MAINPID=` named, not the one zinit spawned. */
  announcedMain(name: string): boolean {
    const svc = this.get(name);
    return svc.pid !== 0 && this.owners.get(svc.pid)?.announced === true;
  }

  // ---- commands (they throw ZinitError before changing anything) --------------------------------

  monitor(name: string, config: ServiceConfig, now: number): Effect[] {
    if (this.shuttingDown) throw shuttingDown();
    if (this.services.has(name)) throw alreadyMonitored(name);
    return this.monitorAll(new Map([[name, config]]), now);
  }

  /** Monitors many services at once, so cycles and waiting services are reported once. */
  monitorAll(configs: ReadonlyMap<string, ServiceConfig>, now: number): Effect[] {
    if (this.shuttingDown) throw shuttingDown();
    return this.run(now, () => {
      const added: Service[] = [];
      for (const [name, config] of configs) {
        if (this.services.has(name)) continue;
        const svc = newService(name, config);
        this.services.set(name, svc);
        for (const dep of new Set(config.after)) this.dependentsOf(dep).add(name);
        added.push(svc);
        if (config.oneshot && config.test) {
          this.log("warn", `service ${name}: 'test' is ignored for oneshot services`);
        }
      }
      if (added.length === 0) return;
      const addedNames = new Set(added.map((s) => s.name));
      const graph = new Map([...this.services].map(([n, s]) => [n, s.config.after]));
      for (const cycle of findCycles(graph)) {
        if (cycle.some((n) => addedNames.has(n))) {
          this.log("error", `dependency cycle: ${cycle.join(" -> ")}`);
        }
      }
      for (const svc of added) this.touched.add(svc);
      for (const svc of added) this.work.push([svc, { kind: "start" }]);
    });
  }

  start(name: string, now: number): Effect[] {
    if (this.shuttingDown) throw shuttingDown();
    const svc = this.get(name);
    return this.run(now, () => {
      svc.target = "Up";
      this.work.push([svc, { kind: "start" }]);
    });
  }

  stop(name: string, now: number): Effect[] {
    const svc = this.get(name);
    return this.run(now, () => {
      svc.target = "Down";
      this.work.push([svc, { kind: "stop" }]);
    });
  }

  /** Drops a stopped service (its file stays). */
  forget(name: string, now: number): Effect[] {
    const svc = this.get(name);
    if (svc.target === "Up" || svc.pid !== 0 || svc.phase === "stopping") throw isUp(name);
    return this.run(now, () => {
      this.services.delete(name);
      this.views.delete(name);
      for (const dep of new Set(svc.config.after)) {
        const set = this.dependents.get(dep);
        set?.delete(name);
        if (set?.size === 0 && !this.services.has(dep)) this.dependents.delete(dep);
      }
      for (const [pid, owner] of this.owners) if (owner.name === name) this.owners.delete(pid);
      this.wakeDependents(name);
      const order = this.shutdownState?.order;
      if (order) this.stopAll(order.stopped(name));
      this.checkPowerOff();
    });
  }

  /** The ordered shutdown; at its end a `power` effect. Throws ShuttingDown if one is under way. */
  shutdown(mode: PowerMode, now: number, exitCode = 0): Effect[] {
    if (this.shuttingDown) throw shuttingDown();
    return this.run(now, () => this.beginShutdown(mode, exitCode, null));
  }

  // ---- events --------------------------------------------------------------------------------------

  handle(ev: CoreEvent, now: number): Effect[] {
    return this.run(now, () => this.route(ev));
  }

  // ---- internals -----------------------------------------------------------------------------------

  private get(name: string): Service {
    const svc = this.services.get(name);
    if (!svc) throw notFound(name);
    return svc;
  }

  private dependentsOf(name: string): Set<string> {
    let set = this.dependents.get(name);
    if (!set) {
      set = new Set();
      this.dependents.set(name, set);
    }
    return set;
  }

  private log(level: LogLevel, message: string): void {
    this.fx.push({ type: "log", level, message });
  }

  private run(now: number, body: () => void): Effect[] {
    this.now = now;
    this.fx = [];
    body();
    this.drain();
    const fx = this.fx;
    this.fx = [];
    return fx;
  }

  /** Carries out queued lifecycle events and reports what changed, until nothing is left. */
  private drain(): void {
    let head = 0;
    while (head < this.work.length || this.touched.size > 0) {
      while (head < this.work.length) {
        const [svc, ev] = this.work[head++] as [Service, LifecycleEvent];
        if (this.services.get(svc.name) !== svc) continue; // forgotten meanwhile
        dispatch(svc, ev, this.ctx);
        this.touched.add(svc);
      }
      for (const svc of this.touched) {
        this.touched.delete(svc);
        this.report(svc);
      }
    }
    this.work.length = 0;
  }

  /** Emits `changed` when the service looks different, and wakes its blocked dependents. */
  private report(svc: Service): void {
    if (this.services.get(svc.name) !== svc) return;
    const state = stateOf(svc);
    const view = `${state}|${svc.target}|${svc.phase}|${svc.pid}|${isReady(svc)}|${svc.reason}`;
    if (this.views.get(svc.name) === view) return;
    this.views.set(svc.name, view);
    const exit = this.exits.get(svc) ?? null;
    this.exits.delete(svc);
    const change: ServiceChange = {
      name: svc.name,
      state,
      target: svc.target,
      pid: svc.pid,
      reason: svc.reason,
      exit,
      phase: svc.phase,
      ready: isReady(svc),
    };
    this.fx.push({ type: "changed", change });
    this.wakeDependents(svc.name);
  }

  private wakeDependents(name: string): void {
    if (this.shuttingDown) return;
    for (const dependent of this.dependents.get(name) ?? []) {
      const d = this.services.get(dependent);
      if (d?.phase === "blocked") this.work.push([d, { kind: "deps" }]);
    }
  }

  private waitingFor(svc: Service): string[] {
    const waiting: string[] = [];
    for (const dep of svc.config.after) {
      const d = this.services.get(dep);
      if (!d) {
        waiting.push(`'${dep}' (not a known service)`);
      } else if (!satisfies(d)) {
        const state = upstreamState(d);
        const failed = state.kind === "Failure" || (d.config.oneshot && state.kind === "Error");
        waiting.push(failed ? `'${dep}' (failed: ${stateString(state)})` : `'${dep}'`);
      }
    }
    return waiting;
  }

  private route(ev: CoreEvent): void {
    if (ev.type === "exited") {
      this.exited(ev.pid, ev.status);
      return;
    }
    const svc = this.services.get(ev.name);
    if (!svc) return;
    this.touched.add(svc);
    switch (ev.type) {
      case "spawned":
        this.owners.set(ev.pid, { name: svc.name, role: ev.role });
        if (ev.role === "main") this.work.push([svc, { kind: "spawned", pid: ev.pid }]);
        else if (ev.role === "stop") this.work.push([svc, { kind: "hookSpawned", pid: ev.pid }]);
        else health.probeSpawned(svc, ev.role, ev.pid, this.ctx);
        return;
      case "spawnFailed":
        if (ev.role === "main") this.work.push([svc, { kind: "spawnFailed", error: ev.error }]);
        else if (ev.role === "stop") this.work.push([svc, { kind: "hookFailed", error: ev.error }]);
        else this.verdict(svc, health.probeSpawnFailed(svc, ev.role, ev.error, this.ctx));
        return;
      case "drained":
        this.work.push([svc, { kind: "drained" }]);
        return;
      case "timer":
        if (LIFECYCLE_TIMERS.has(ev.kind)) {
          const kind = `${ev.kind}Timer` as "restartTimer" | "killTimer" | "giveUpTimer";
          this.work.push([svc, ev.kind === "startTimeout" ? { kind: "startTimeout" } : { kind }]);
        } else {
          this.verdict(svc, health.timer(svc, ev.kind, this.ctx));
        }
        return;
      case "probeDone":
        this.verdict(svc, health.probeDone(svc, ev.level, ev.ok, ev.detail, this.ctx));
        return;
      case "notify":
        this.notified(svc, ev.fields);
        return;
    }
  }

  private exited(pid: number, status: ExitStatus): void {
    const owner = this.owners.get(pid);
    if (!owner) return; // an orphan of no service, or a process we stopped tracking
    this.owners.delete(pid);
    const svc = this.services.get(owner.name);
    if (!svc) return;
    this.touched.add(svc);
    switch (owner.role) {
      case "main":
        if (svc.pid !== pid) {
          // The run goes on with the process MAINPID= named, unless that one is gone too.
          if (owner.superseded && svc.pid !== 0) {
            this.fx.push({ type: "confirmMain", name: svc.name, pid: svc.pid, status });
          }
          return;
        }
        this.exits.set(svc, status);
        this.work.push([svc, { kind: "exited", status }]);
        return;
      case "stop":
        this.work.push([svc, { kind: "hookExited", status }]);
        return;
      case "ready":
      case "live": {
        const current = owner.role === "ready" ? svc.health.readyPid : svc.health.livePid;
        if (current !== pid) return;
        this.verdict(svc, health.probeExited(svc, owner.role, status, this.ctx));
        return;
      }
    }
  }

  private notified(svc: Service, fields: Record<string, string>): void {
    const extend = Number(fields.EXTEND_TIMEOUT_USEC);
    if (
      Number.isFinite(extend) &&
      extend > 0 &&
      svc.phase === "running" &&
      !svc.health.ready &&
      svc.config.startTimeoutMs !== null
    ) {
      // systemd's meaning: the start may take at least this much longer, from now.
      const ms = Math.min(Math.ceil(extend / 1000), 2 ** 31 - 1);
      this.fx.push({ type: "timer", name: svc.name, kind: "startTimeout", ms });
    }
    if (fields.STOPPING === "1") svc.health.status ||= "stopping";
    if (fields.MAINPID !== undefined) this.newMain(svc, fields.MAINPID);
    this.verdict(svc, health.notified(svc, fields, this.ctx));
  }

  /**
   * `MAINPID=`: the service's main process is now another of its processes (the shell checked
   * that it is one), e.g. the child a daemon forked before its parent exits. From now on that
   * pid is the one whose exit ends the run, that is signalled and shown; the exit of the one
   * it replaces does not end the run.
   */
  private newMain(svc: Service, text: string): void {
    const pid = /^[1-9][0-9]{0,9}$/.test(text) ? Number(text) : 0;
    if (pid === 0 || pid === svc.pid || svc.phase !== "running") return;
    const owner = this.owners.get(pid);
    if (owner && owner.role !== "main") {
      const what = owner.role === "stop" ? "stop command" : `${owner.role} check`;
      this.log("warn", `service ${svc.name}: ignored MAINPID=${pid}: that is its ${what}`);
      return;
    }
    const old = this.owners.get(svc.pid);
    if (old) old.superseded = true;
    this.owners.set(pid, { name: svc.name, role: "main", announced: true });
    this.log(
      "info",
      `service ${svc.name}: main process is now pid ${pid} (MAINPID=; was ${svc.pid})`,
    );
    svc.pid = pid;
  }

  private verdict(svc: Service, verdict: health.Verdict): void {
    if (verdict === null || svc.phase !== "running") return;
    if (verdict === "ready") this.work.push([svc, { kind: "ready" }]);
    else this.work.push([svc, { kind: "unhealthy", reason: verdict.unhealthy }]);
  }

  private failedForGood(svc: Service, exitCode: number): void {
    if (this.shuttingDown) return;
    const mode = this.opts.canPower ? svc.config.criticalAction : "exit";
    this.log(
      "error",
      `critical service ${svc.name} failed for good: stopping everything (${mode === "exit" ? `exit code ${exitCode}` : mode})`,
    );
    this.beginShutdown(mode, exitCode, svc.name);
  }

  private finishedJob(svc: Service): void {
    if (this.shuttingDown) return;
    this.beginShutdown(this.opts.canPower ? "poweroff" : "exit", 0, svc.name);
  }

  private beginShutdown(mode: PowerMode, exitCode: number, cause: string | null): void {
    const order = new ShutdownOrder(
      this.services.keys(),
      (n) => this.services.get(n)?.config.after ?? [],
    );
    this.shutdownState = { mode, exitCode, order, ended: false };
    const what = mode === "reboot" ? "reboot" : mode === "poweroff" ? "power-off" : "shutdown";
    const n = this.services.size;
    this.log(
      "info",
      `${what}${cause === null ? "" : ` (${cause})`}: stopping ${n} service${n === 1 ? "" : "s"} in order`,
    );
    for (const svc of this.services.values()) {
      svc.target = "Down";
      this.touched.add(svc);
    }
    this.stopAll(order.begin());
    this.checkPowerOff();
  }

  private stopAll(names: string[]): void {
    for (const name of names) {
      const svc = this.services.get(name);
      if (svc) this.work.push([svc, { kind: "stop" }]);
    }
  }

  private stopDone(svc: Service): void {
    this.fx.push({ type: "stopped", name: svc.name });
    const order = this.shutdownState?.order;
    if (!order) return;
    this.stopAll(order.stopped(svc.name));
    this.checkPowerOff();
  }

  private checkPowerOff(): void {
    const s = this.shutdownState;
    if (!s || s.ended || !s.order.done) return;
    s.ended = true;
    this.fx.push({ type: "power", mode: s.mode, exitCode: s.exitCode });
  }
}

/** The current run passed its readiness check: a service with no process left is not ready. */
function isReady(svc: Service): boolean {
  return svc.pid !== 0 && svc.health.ready;
}
