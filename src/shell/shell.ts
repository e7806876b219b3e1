// The imperative shell around the supervision core: it turns OS events (reaped children,
// timers) into core events, and carries out the core's effects (spawn, signal, timers, logs)
// through the sys layer. Policy lives in src/core/supervisor.ts, not here.

import { resolve } from "node:path";
import { serviceEnv } from "../config/environment.ts";
import { SIGKILL } from "../core/signals.ts";
import {
  type Effect,
  type PowerMode,
  type Role,
  Supervisor,
  type TimerKind,
} from "../core/supervisor.ts";
import type { ExitStatus, ServiceConfig } from "../core/types.ts";
import { formatLine, type LineSink, readLines, startSeparator } from "../log/lines.ts";
import { log } from "../log/logger.ts";
import type { LogRing } from "../log/ring.ts";
import { forwardTo } from "../log/writer.ts";
import { close, pipe } from "../sys/pipe.ts";
import type { ProcInfo } from "../sys/proc.ts";
import { kill, killGroup } from "../sys/process.ts";
import { spawn } from "../sys/spawn.ts";
import { ProcessTracker } from "./tracker.ts";

export interface ShellOptions {
  configDir: string;
  ring: LogRing;
  /** zinit's own environment and /etc/environment, overlaid by each service's `env`. */
  baseEnv: Record<string, string>;
  etcEnv: Record<string, string>;
  onPower: (mode: PowerMode) => void;
  now?: () => number;
}

export class Shell {
  readonly core = new Supervisor();
  private readonly timers = new Map<string, Timer>();
  private readonly stopWaiters = new Map<string, Array<() => void>>();
  private readonly tracker = new ProcessTracker();
  /** Services being stopped whose processes are not all gone yet. */
  private readonly draining = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly opts: ShellOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  /** Runs a core command and carries out what it decided. Errors (ZinitError) propagate. */
  command(decide: (now: number) => Effect[]): void {
    this.run(decide(this.now()));
  }

  /** Resolves when every process of the service is gone. */
  stop(name: string): Promise<void> {
    const done = new Promise<void>((res) => {
      const list = this.stopWaiters.get(name) ?? [];
      list.push(res);
      this.stopWaiters.set(name, list);
    });
    try {
      this.command((now) => this.core.stop(name, now));
    } catch (err) {
      this.stopWaiters.get(name)?.pop();
      throw err;
    }
    return done;
  }

  /** Called by the reaper for every child it reaps. */
  onExit(pid: number, status: ExitStatus): void {
    // Only the service this process belonged to can have become drained by its exit: a member
    // reaped by another member is noticed when that one, also known, is reaped by us.
    const owner = this.tracker.ownerOf(pid) ?? this.core.owner(pid)?.name;
    this.tracker.noteReaped(pid);
    this.run(this.core.exited(pid, status, this.now()));
    if (owner !== undefined && this.draining.has(owner)) this.checkDrained(owner);
  }

  /** Every live process of a service. */
  members(name: string): ProcInfo[] {
    return this.tracker.members(name);
  }

  private run(effects: Effect[]): void {
    for (const effect of effects) {
      try {
        this.perform(effect);
      } catch (err) {
        log.error(`internal error while performing ${effect.type}: ${errorText(err)}`);
      }
    }
  }

  private perform(effect: Effect): void {
    switch (effect.type) {
      case "spawn":
        this.spawn(effect.name, effect.role);
        return;
      case "signalAll":
        this.signalAll(effect.name, effect.signal);
        return;
      case "killTest":
        killGroup(effect.pid, SIGKILL);
        return;
      case "timer":
        this.setTimer(effect.name, effect.kind, effect.ms);
        return;
      case "cancelTimer":
        this.clearTimer(effect.name, effect.kind);
        return;
      case "log":
        log[effect.level](effect.message);
        return;
      case "stopped": {
        const waiters = this.stopWaiters.get(effect.name) ?? [];
        this.stopWaiters.delete(effect.name);
        for (const resolveStop of waiters) resolveStop();
        return;
      }
      case "power":
        this.opts.onPower(effect.mode);
        return;
    }
  }

  private spawn(name: string, role: Role): void {
    const config = this.core.config(name);
    const label = role === "test" ? `${name}/test` : name;
    const argv = role === "test" ? config.testArgv : config.argv;
    // `none` goes straight to /dev/null; `ring` and `stdout` are read by us, so a service never
    // blocks on a full pipe and a slow zinit stdout drops lines instead of stalling services.
    const fds = config.log === "none" ? null : { out: pipe(), err: pipe() };
    const result = spawn({
      argv,
      env: serviceEnv(this.opts.baseEnv, this.opts.etcEnv, config.env),
      cwd: this.workDir(config),
      stdout: fds ? fds.out.write : "null",
      stderr: fds ? fds.err.write : "null",
    });
    if (fds) {
      close(fds.out.write);
      close(fds.err.write);
    }
    if (!result.ok) {
      if (fds) {
        close(fds.out.read);
        close(fds.err.read);
      }
      this.run(this.core.spawnFailed(name, role, result.error, this.now()));
      return;
    }
    if (fds) {
      const [onOut, onErr] = this.sinks(label, config);
      readLines(fds.out.read, onOut, noop);
      readLines(fds.err.read, onErr, noop);
    }
    if (role === "main") this.tracker.addSession(name, result.pid);
    this.run(this.core.spawned(name, role, result.pid, this.now()));
  }

  private sinks(label: string, config: ServiceConfig): [LineSink, LineSink] {
    if (config.log === "stdout") return [forwardTo(1), forwardTo(2)];
    const ring = this.opts.ring;
    ring.push(startSeparator(label));
    return [
      (line) => ring.push(formatLine(label, "stdout", line)),
      (line) => ring.push(formatLine(label, "stderr", line)),
    ];
  }

  private workDir(config: ServiceConfig): string {
    return config.dir === "" ? "/" : resolve(this.opts.configDir, config.dir);
  }

  private signalAll(name: string, signal: number): void {
    // Find the members before signalling: a dying parent would orphan its setsid'd children.
    const found = this.members(name);
    const main = this.core.pid(name);
    if (main !== 0) killGroup(main, signal);
    // One signal per process: the group already got it, so only those outside it are sent one.
    for (const p of found) if (main === 0 || p.pgid !== main) kill(p.pid, signal);
    this.draining.add(name);
    this.checkDrained(name);
  }

  private checkDrained(name: string): void {
    if (!this.core.has(name)) {
      this.draining.delete(name);
      return;
    }
    if (this.tracker.anyAlive(name)) return;
    this.draining.delete(name);
    this.tracker.forget(name);
    this.run(this.core.drained(name, this.now()));
  }

  private setTimer(name: string, kind: TimerKind, ms: number): void {
    const key = `${kind}\0${name}`;
    clearTimeout(this.timers.get(key));
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.run(this.core.timer(name, kind, this.now()));
      }, ms),
    );
  }

  private clearTimer(name: string, kind: TimerKind): void {
    const key = `${kind}\0${name}`;
    const timer = this.timers.get(key);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.timers.delete(key);
    }
  }
}

function noop(): void {}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
