// The supervision core: every decision about services (when to spawn, restart, gate on a test,
// stop, escalate to SIGKILL, shut down in order) is made here, and only here. It is fed events
// by the daemon shell (src/shell/shell.ts) and answers with effects for the shell to carry out.
// No I/O, no clocks, no processes: `now` comes with each event, so it is unit-testable.

import { alreadyMonitored, isDown, isUp, notFound, shuttingDown } from "./errors.ts";
import { findCycles, stoppableNow } from "./graph.ts";
import {
  HEALTHY_RUN_MS,
  KILL_GRACE_MS,
  restartDelay,
  TEST_TIMEOUT_MS,
  testRetryDelay,
} from "./policy.ts";
import { parseSignal, SIGKILL, SIGTERM } from "./signals.ts";
import { describeExit, exitState, stateString } from "./state.ts";
import type { ExitStatus, ServiceConfig, State, Target } from "./types.ts";

export type Role = "main" | "test";
export type TimerKind = "restart" | "test" | "testTimeout" | "kill" | "giveUp";
export type PowerMode = "exit" | "poweroff" | "reboot";

export type Effect =
  /** Spawn the service's `exec` (main) or `test`; answer with spawned() or spawnFailed(). */
  | { type: "spawn"; name: string; role: Role }
  /** Signal every process of the service (its group, its sessions, their descendants); answer
   * with drained() once none is left, checking again after each reaped process. */
  | { type: "signalAll"; name: string; signal: number }
  /** Kill the health check's whole process group. */
  | { type: "killTest"; name: string; pid: number }
  | { type: "timer"; name: string; kind: TimerKind; ms: number }
  | { type: "cancelTimer"; name: string; kind: TimerKind }
  | { type: "log"; level: "debug" | "info" | "warn" | "error"; message: string }
  /** Every process of the service is gone after a stop: resolve stop() waiters. */
  | { type: "stopped"; name: string }
  /** All services are stopped: sync, then exit or call reboot(2). */
  | { type: "power"; mode: PowerMode };

type Phase =
  | "idle" // not scheduled: target Down, or a finished oneshot, or waiting for start()
  | "blocked" // target Up, waiting for `after`
  | "running" // main process alive
  | "restartWait" // target Up, waiting out the backoff
  | "stopping"; // stop signal sent; waiting for the process and every member to be gone

interface Service {
  name: string;
  config: ServiceConfig;
  target: Target;
  state: State;
  phase: Phase;
  pid: number;
  testPid: number;
  /** Failed health checks since the current spawn. */
  testAttempts: number;
  /** Consecutive unhealthy runs or spawn failures, for the restart backoff. */
  failures: number;
  spawnedAt: number;
  /** While stopping: the main process has been seen to exit (or there was none). */
  mainGone: boolean;
  /** While stopping: no process of the service is left. */
  drained: boolean;
  /** The last blocked-reason logged, so a waiting service is reported once, not per event. */
  blockedReason: string;
}

export interface StatusView {
  name: string;
  pid: number;
  state: string;
  target: Target;
  after: Record<string, string>;
}

export class Supervisor {
  private readonly services = new Map<string, Service>();
  private shutdownMode: PowerMode | null = null;
  /** Services the shutdown has yet to stop (not yet asked to stop). */
  private shutdownQueue = new Set<string>();
  /** Services the shutdown has asked to stop and that have not finished. */
  private shutdownStopping = new Set<string>();

  get shuttingDown(): boolean {
    return this.shutdownMode !== null;
  }

  // ---- queries -------------------------------------------------------------------------------

  has(name: string): boolean {
    return this.services.has(name);
  }

  names(): string[] {
    return [...this.services.keys()].sort();
  }

  config(name: string): ServiceConfig {
    return this.get(name).config;
  }

  pid(name: string): number {
    return this.get(name).pid;
  }

  /** Which service a pid belongs to, as main process or health check. */
  owner(pid: number): { name: string; role: Role } | null {
    for (const svc of this.services.values()) {
      if (svc.pid === pid) return { name: svc.name, role: "main" };
      if (svc.testPid === pid) return { name: svc.name, role: "test" };
    }
    return null;
  }

  list(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const name of this.names()) out[name] = stateString(this.get(name).state);
    return out;
  }

  status(name: string): StatusView {
    const svc = this.get(name);
    const after: Record<string, string> = {};
    for (const dep of svc.config.after) {
      const d = this.services.get(dep);
      after[dep] = d ? stateString(d.state) : "Unknown";
    }
    return { name, pid: svc.pid, state: stateString(svc.state), target: svc.target, after };
  }

  /** Throws unless the service exists and has a process to signal. */
  requireRunning(name: string): number {
    const svc = this.get(name);
    if (svc.pid === 0) throw isDown(name);
    return svc.pid;
  }

  // ---- commands ------------------------------------------------------------------------------

  monitor(name: string, config: ServiceConfig, now: number): Effect[] {
    if (this.shuttingDown) throw shuttingDown();
    if (this.services.has(name)) throw alreadyMonitored(name);
    return this.monitorAll(new Map([[name, config]]), now);
  }

  /** Monitors many services at once, so cycles and waiting services are reported once. */
  monitorAll(configs: ReadonlyMap<string, ServiceConfig>, now: number): Effect[] {
    const effects: Effect[] = [];
    const added = [...configs].filter(([name]) => !this.services.has(name));
    for (const [name, config] of added) {
      this.services.set(name, newService(name, config));
      if (config.oneshot && config.test) {
        effects.push(log("warn", `service ${name}: 'test' is ignored for oneshot services`));
      }
    }
    for (const cycle of findCycles(this.depGraph())) {
      if (added.some(([name]) => cycle.includes(name))) {
        effects.push(log("error", `dependency cycle: ${cycle.join(" -> ")}`));
      }
    }
    for (const [name] of added) this.schedule(this.get(name), now, effects);
    return this.settle(now, effects);
  }

  start(name: string, now: number): Effect[] {
    if (this.shuttingDown) throw shuttingDown();
    const svc = this.get(name);
    svc.target = "Up";
    const effects: Effect[] = [];
    if (svc.phase === "idle") {
      svc.failures = 0;
      this.schedule(svc, now, effects);
    } else if (svc.phase === "restartWait") {
      // An explicit start cuts a backoff short.
      effects.push({ type: "cancelTimer", name, kind: "restart" });
      svc.failures = 0;
      svc.phase = "idle";
      this.schedule(svc, now, effects);
    }
    // running: nothing to do; stopping: the stop completes, then target Up restarts it.
    return this.settle(now, effects);
  }

  stop(name: string, now: number): Effect[] {
    const svc = this.get(name);
    svc.target = "Down";
    const effects: Effect[] = [];
    this.beginStop(svc, effects);
    return this.settle(now, effects);
  }

  forget(name: string): void {
    const svc = this.get(name);
    if (svc.target === "Up" || svc.pid !== 0 || svc.phase === "stopping") throw isUp(name);
    this.services.delete(name);
  }

  shutdown(mode: PowerMode, now: number): Effect[] {
    if (this.shuttingDown) throw shuttingDown();
    this.shutdownMode = mode;
    const effects: Effect[] = [log("info", mode === "reboot" ? "rebooting" : "shutting down")];
    for (const svc of this.services.values()) {
      svc.target = "Down";
      if (svc.phase === "restartWait") {
        effects.push({ type: "cancelTimer", name: svc.name, kind: "restart" });
        svc.phase = "idle";
      } else if (svc.phase === "blocked") {
        svc.phase = "idle";
      }
      this.shutdownQueue.add(svc.name);
    }
    this.advanceShutdown(effects);
    return this.settle(now, effects);
  }

  // ---- events from the shell -----------------------------------------------------------------

  spawned(name: string, role: Role, pid: number, now: number): Effect[] {
    const svc = this.services.get(name);
    if (!svc) return [];
    const effects: Effect[] = [];
    if (role === "test") {
      svc.testPid = pid;
      effects.push({ type: "timer", name, kind: "testTimeout", ms: TEST_TIMEOUT_MS });
      return effects;
    }
    svc.pid = pid;
    svc.spawnedAt = now;
    svc.phase = "running";
    svc.testAttempts = 0;
    svc.mainGone = false;
    svc.drained = false;
    if (svc.config.oneshot || svc.config.test === "") {
      svc.state = { kind: "Running" };
    } else {
      svc.state = { kind: "Spawned" };
      effects.push({ type: "spawn", name, role: "test" });
    }
    return this.settle(now, effects);
  }

  spawnFailed(name: string, role: Role, error: string, now: number): Effect[] {
    const svc = this.services.get(name);
    if (!svc) return [];
    const effects: Effect[] = [];
    if (role === "test") {
      svc.state = { kind: "TestFailure" };
      svc.testAttempts++;
      effects.push(log("error", `service ${name}: test failed to start: ${error}`));
      if (svc.phase === "running") {
        effects.push({ type: "timer", name, kind: "test", ms: testRetryDelay(svc.testAttempts) });
      }
      return this.settle(now, effects);
    }
    svc.state = { kind: "Failure" };
    svc.phase = "idle";
    svc.mainGone = true;
    svc.drained = true;
    if (svc.target === "Up" && !this.shuttingDown) {
      const delay = restartDelay(++svc.failures);
      effects.push(
        log("error", `service ${name} failed to start: ${error}; retrying in ${delay} ms`),
      );
      svc.phase = "restartWait";
      effects.push({ type: "timer", name, kind: "restart", ms: delay });
    } else {
      effects.push(log("error", `service ${name} failed to start: ${error}`));
    }
    return this.settle(now, effects);
  }

  /** A reaped child. Pids that are not a service's main process or test are orphans: ignored. */
  exited(pid: number, status: ExitStatus, now: number): Effect[] {
    const who = this.owner(pid);
    if (!who) return [];
    const svc = this.get(who.name);
    const effects: Effect[] = [];
    if (who.role === "test") this.testExited(svc, status, effects);
    else this.mainExited(svc, status, now, effects);
    return this.settle(now, effects);
  }

  /** No process of the service is left (answer to signalAll). */
  drained(name: string, now: number): Effect[] {
    const svc = this.services.get(name);
    if (svc?.phase !== "stopping") return [];
    svc.drained = true;
    const effects: Effect[] = [];
    this.finishStopIfDone(svc, now, effects);
    return this.settle(now, effects);
  }

  timer(name: string, kind: TimerKind, now: number): Effect[] {
    const svc = this.services.get(name);
    if (!svc) return [];
    const effects: Effect[] = [];
    switch (kind) {
      case "restart":
        if (svc.phase === "restartWait" && svc.target === "Up" && !this.shuttingDown) {
          svc.phase = "idle";
          this.schedule(svc, now, effects);
        }
        break;
      case "test":
        if (svc.phase === "running" && svc.testPid === 0 && svc.state.kind !== "Running") {
          effects.push({ type: "spawn", name, role: "test" });
        }
        break;
      case "testTimeout":
        if (svc.testPid !== 0) {
          effects.push(log("warn", `service ${name}: test timed out after ${TEST_TIMEOUT_MS} ms`));
          effects.push({ type: "killTest", name, pid: svc.testPid });
        }
        break;
      case "kill":
        if (svc.phase === "stopping") {
          effects.push(
            log(
              "warn",
              `service ${name} did not stop in ${svc.config.shutdownTimeout} s: sending SIGKILL`,
            ),
          );
          effects.push({ type: "signalAll", name, signal: SIGKILL });
          effects.push({ type: "timer", name, kind: "giveUp", ms: KILL_GRACE_MS });
        }
        break;
      case "giveUp":
        if (svc.phase === "stopping") {
          effects.push(
            log(
              "error",
              `service ${name}: processes still present ${KILL_GRACE_MS} ms after SIGKILL; giving up on them`,
            ),
          );
          svc.mainGone = true;
          svc.drained = true;
          if (svc.pid !== 0) svc.pid = 0;
          this.finishStopIfDone(svc, now, effects);
        }
        break;
    }
    return this.settle(now, effects);
  }

  // ---- internals -----------------------------------------------------------------------------

  private get(name: string): Service {
    const svc = this.services.get(name);
    if (!svc) throw notFound(name);
    return svc;
  }

  private depGraph(): Map<string, string[]> {
    return new Map([...this.services].map(([n, s]) => [n, s.config.after]));
  }

  private satisfied(dep: string): boolean {
    const d = this.services.get(dep);
    if (!d) return false;
    return d.state.kind === "Success" || (d.state.kind === "Running" && !d.config.oneshot);
  }

  /** A service with target Up and nothing running: spawn it, or wait for its dependencies. */
  private schedule(svc: Service, _now: number, effects: Effect[]): void {
    if (svc.target !== "Up" || this.shuttingDown) return;
    if (svc.phase !== "idle" && svc.phase !== "blocked") return;
    const waiting = svc.config.after.filter((dep) => !this.satisfied(dep));
    if (waiting.length > 0) {
      svc.phase = "blocked";
      svc.state = { kind: "Blocked" };
      const reason = waiting.map((dep) => this.waitReason(dep)).join(", ");
      if (reason !== svc.blockedReason) {
        svc.blockedReason = reason;
        effects.push(log("info", `service ${svc.name} is waiting for ${reason}`));
      }
      return;
    }
    svc.blockedReason = "";
    svc.phase = "running";
    effects.push({ type: "spawn", name: svc.name, role: "main" });
  }

  private waitReason(dep: string): string {
    const d = this.services.get(dep);
    if (!d) return `'${dep}' (not a known service)`;
    if (d.state.kind === "Failure" || (d.config.oneshot && d.state.kind === "Error")) {
      return `'${dep}' (failed: ${stateString(d.state)})`;
    }
    return `'${dep}'`;
  }

  private testExited(svc: Service, status: ExitStatus, effects: Effect[]): void {
    svc.testPid = 0;
    effects.push({ type: "cancelTimer", name: svc.name, kind: "testTimeout" });
    if (svc.phase !== "running" || svc.state.kind === "Running") return;
    if (status.kind === "exited" && status.code === 0) {
      svc.state = { kind: "Running" };
      svc.testAttempts = 0;
      return;
    }
    svc.testAttempts++;
    if (svc.state.kind === "TestFailure") svc.state = { kind: "Spawned" };
    effects.push({
      type: "timer",
      name: svc.name,
      kind: "test",
      ms: testRetryDelay(svc.testAttempts),
    });
  }

  private mainExited(svc: Service, status: ExitStatus, now: number, effects: Effect[]): void {
    const pid = svc.pid;
    svc.pid = 0;
    svc.state = exitState(pid, status);
    this.abortTest(svc, effects);
    if (svc.phase === "stopping") {
      svc.mainGone = true;
      this.finishStopIfDone(svc, now, effects);
      return;
    }
    const ranFor = now - svc.spawnedAt;
    if (svc.config.oneshot) {
      svc.phase = "idle";
      effects.push(
        log(
          status.kind === "exited" && status.code === 0 ? "info" : "warn",
          `service ${svc.name} ${describeExit(status)}`,
        ),
      );
      return;
    }
    if (svc.target !== "Up" || this.shuttingDown) {
      svc.phase = "idle";
      return;
    }
    if (ranFor >= HEALTHY_RUN_MS) svc.failures = 0;
    const delay = restartDelay(svc.failures++);
    if (delay === 0) {
      svc.phase = "idle";
      this.schedule(svc, now, effects);
    } else {
      svc.phase = "restartWait";
      effects.push({ type: "timer", name: svc.name, kind: "restart", ms: delay });
    }
    // Logged after the respawn is decided, so writing the message does not delay the new process.
    const when = delay ? ` in ${delay} ms` : "";
    effects.push(log("warn", `service ${svc.name} ${describeExit(status)}; restarting${when}`));
  }

  private abortTest(svc: Service, effects: Effect[]): void {
    effects.push({ type: "cancelTimer", name: svc.name, kind: "test" });
    if (svc.testPid !== 0) {
      effects.push({ type: "killTest", name: svc.name, pid: svc.testPid });
      effects.push({ type: "cancelTimer", name: svc.name, kind: "testTimeout" });
    }
  }

  private beginStop(svc: Service, effects: Effect[]): void {
    switch (svc.phase) {
      case "stopping":
        return; // already on its way; its waiters are resolved when it completes
      case "restartWait":
        effects.push({ type: "cancelTimer", name: svc.name, kind: "restart" });
        break;
      case "running":
        this.abortTest(svc, effects);
        break;
    }
    // Even with no main process, earlier runs may have left processes behind (a oneshot that
    // started a background job): the sweep covers them, and drained() comes back at once if none.
    svc.phase = "stopping";
    svc.mainGone = svc.pid === 0;
    svc.drained = false;
    const signal = this.stopSignalNumber(svc);
    effects.push({ type: "signalAll", name: svc.name, signal });
    effects.push({
      type: "timer",
      name: svc.name,
      kind: "kill",
      ms: svc.config.shutdownTimeout * 1000,
    });
  }

  private stopSignalNumber(svc: Service): number {
    // The config layer validated the name; SIGTERM is the documented default.
    return parseSignal(svc.config.stopSignal) ?? SIGTERM;
  }

  private finishStopIfDone(svc: Service, now: number, effects: Effect[]): void {
    if (!svc.mainGone || !svc.drained) return;
    svc.phase = "idle";
    effects.push({ type: "cancelTimer", name: svc.name, kind: "kill" });
    effects.push({ type: "cancelTimer", name: svc.name, kind: "giveUp" });
    effects.push({ type: "stopped", name: svc.name });
    if (this.shutdownStopping.delete(svc.name)) this.advanceShutdown(effects);
    else if (svc.target === "Up") this.schedule(svc, now, effects);
  }

  private advanceShutdown(effects: Effect[]): void {
    if (!this.shutdownMode) return;
    // Services already stopping still count: their dependencies must wait for them.
    const remaining = new Set([...this.shutdownQueue, ...this.shutdownStopping]);
    const ready = stoppableNow(this.depGraph(), remaining).filter((n) => this.shutdownQueue.has(n));
    for (const name of ready) {
      this.shutdownQueue.delete(name);
      const svc = this.services.get(name);
      if (!svc) continue;
      this.shutdownStopping.add(name);
      this.beginStop(svc, effects);
    }
    if (this.shutdownQueue.size === 0 && this.shutdownStopping.size === 0) {
      effects.push({ type: "power", mode: this.shutdownMode });
    }
  }

  /** After any change, blocked services whose dependencies are now met get spawned. */
  private settle(now: number, effects: Effect[]): Effect[] {
    if (this.shuttingDown) return effects;
    for (const svc of this.services.values()) {
      if (svc.phase === "blocked") this.schedule(svc, now, effects);
    }
    return effects;
  }
}

function newService(name: string, config: ServiceConfig): Service {
  return {
    name,
    config,
    target: "Up",
    state: { kind: "Unknown" },
    phase: "idle",
    pid: 0,
    testPid: 0,
    testAttempts: 0,
    failures: 0,
    spawnedAt: 0,
    mainGone: true,
    drained: true,
    blockedReason: "",
  };
}

function log(level: "debug" | "info" | "warn" | "error", message: string): Effect {
  return { type: "log", level, message };
}
