// The imperative shell around the supervision core. It turns what the OS reports (reaped children,
// timers, probe answers, notifications) into core events, and carries out the core's effects
// through the Sys port. Everything passes through one loop with two FIFO queues, events and
// effects: the core is never called while an effect is being carried out, the answer to an
// effect (a spawn's pid, a stop that found nothing to wait for) is fed back as the next event,
// and a long batch (a thousand spawns) yields to the event loop every SLICE_MS so the control
// socket and the reaper keep up. Policy lives in src/core/, not here.

import { serviceEnv } from "../config/environment.ts";
import type {
  CoreEvent,
  Effect,
  LogLevel,
  NetProbe,
  PowerMode,
  ProbeLevel,
  Role,
  ServiceChange,
  SpawnSpec,
  TimerKind,
} from "../core/effects.ts";
import { errorText } from "../core/errors.ts";
import { httpRequest, parseNotify, parseProbeUrl, replyStatus } from "../core/probe.ts";
import { Supervisor } from "../core/supervisor.ts";
import type { ServiceLogs } from "../log/outputs.ts";
import type { ChunkSink, Exit, ProcInfo, Sys, TimerId } from "../sys/port.ts";
import { ProcessTracker } from "./tracker.ts";

/** The longest stretch of work the loop does before letting the event loop run. */
export const SLICE_MS = 5;

interface ShellOptions {
  sys: Sys;
  logs: ServiceLogs;
  /** zinit's own environment and /etc/environment, overlaid by each service's `env`. */
  baseEnv: Record<string, string>;
  etcEnv: Record<string, string>;
  /** PID 1 of a machine (not a container, not under another init). */
  canPower: boolean;
  /** zinit's own log line. */
  say: (level: LogLevel, message: string) => void;
  /** Where the sd_notify sockets of `notify: systemd` services are made. */
  notifyDir: string;
  /** Every service is stopped after a shutdown. */
  onPower: (mode: PowerMode, exitCode: number) => void;
}

/** A log probe's state: the pattern, and whether a line matched since the last check. */
interface Watch {
  re: RegExp;
  seen: boolean;
  /** A readiness log probe waiting for its first match. */
  armed: boolean;
}

/** The log probes of one run of a service, by level: each sees every line of its output. */
type Watches = Partial<Record<ProbeLevel, Watch>>;

export class Shell {
  readonly core: Supervisor;
  private readonly sys: Sys;
  private readonly tracker: ProcessTracker;
  private readonly effects: Effect[] = [];
  private effectHead = 0;
  /** Main-process spawns in the queue, by service, and those cancelled before their turn. */
  private readonly queuedSpawns = new Map<string, Effect>();
  private readonly cancelled = new Set<Effect>();
  private readonly events: CoreEvent[] = [];
  private eventHead = 0;
  private running = false;
  private resumeScheduled = false;
  private readonly timers = new Map<string, TimerId>();
  /** Services signalled whose processes are not all gone yet. */
  private readonly draining = new Set<string>();
  private readonly stopWaiters = new Map<string, Array<() => void>>();
  private readonly changeListeners = new Set<(change: ServiceChange) => void>();
  private readonly reapListeners = new Set<() => void>();
  /** tcp/http probes in flight, per service and level: answers of cancelled ones are dropped. */
  private readonly probes = new Map<string, number>();
  private probeSerial = 0;
  private readonly watches = new Map<string, Watches>();
  /** Per `notify: systemd` service: its socket's path, and how to close it. */
  private readonly notifySockets = new Map<string, { path: string; close(): void }>();
  private notifySerial = 0;

  constructor(private readonly opts: ShellOptions) {
    this.sys = opts.sys;
    this.core = new Supervisor({ canPower: opts.canPower });
    this.tracker = new ProcessTracker(opts.sys);
  }

  /** Starts reaping. Before this, exits are not seen: call it before the first spawn. */
  start(): void {
    const slow = this.sys.reap((exits) => this.onExits(exits));
    if (slow !== null) {
      this.opts.say("warn", `every exit will scan all children (no native SIGCHLD hook: ${slow})`);
    }
  }

  /** Runs a core command (which throws ZinitError before changing anything) and its effects. */
  command(decide: (now: number) => Effect[]): void {
    this.enqueue(decide(this.sys.now()));
    this.kick();
  }

  /** Resolves when every process of the service is gone. */
  stop(name: string): Promise<void> {
    const done = new Promise<void>((resolve) => {
      const list = this.stopWaiters.get(name) ?? [];
      list.push(resolve);
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

  forget(name: string): void {
    this.command((now) => this.core.forget(name, now));
    this.tracker.forget(name);
    this.watches.delete(name);
    this.notifySockets.get(name)?.close();
    this.notifySockets.delete(name);
    for (const key of [...this.timers.keys()]) if (key.endsWith(`\0${name}`)) this.clearTimer(key);
  }

  /** Closes what the shell owns outside processes (the notify sockets), before zinit exits. */
  close(): void {
    for (const socket of this.notifySockets.values()) socket.close();
    this.notifySockets.clear();
  }

  /** Every live process of a service. */
  members(name: string): ProcInfo[] {
    return this.tracker.members(name);
  }

  /** Calls `listener` with every change of every service, in order; returns the unsubscribe. */
  onChange(listener: (change: ServiceChange) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Calls `listener` after each batch of reaped children has been handled. */
  onReap(listener: () => void): () => void {
    this.reapListeners.add(listener);
    return () => this.reapListeners.delete(listener);
  }

  /** An event from outside the loop (a notification, a test). */
  post(event: CoreEvent): void {
    this.events.push(event);
    this.kick();
  }

  // ---- the loop ------------------------------------------------------------------------------

  private enqueue(effects: Effect[]): void {
    for (const e of effects) {
      if (e.type === "spawn" && e.role === "main") this.queuedSpawns.set(e.name, e);
      if (e.type === "cancelSpawn") {
        // Acted on now, not in its turn: the point is not to spawn what is already stopping.
        const spawn = this.queuedSpawns.get(e.name);
        if (spawn) this.cancelled.add(spawn);
        this.queuedSpawns.delete(e.name);
        continue;
      }
      this.effects.push(e);
    }
  }

  private kick(): void {
    if (!this.running && !this.resumeScheduled) this.drain();
  }

  private drain(): void {
    this.running = true;
    const began = this.sys.now();
    try {
      for (;;) {
        if (this.effectHead < this.effects.length) {
          const effect = this.effects[this.effectHead++] as Effect;
          this.perform(effect);
        } else if (this.eventHead < this.events.length) {
          const event = this.events[this.eventHead++] as CoreEvent;
          this.feed(event);
        } else {
          break;
        }
        if (this.sys.now() - began >= SLICE_MS) {
          this.resumeScheduled = true;
          this.sys.defer(() => {
            this.resumeScheduled = false;
            this.kick();
          });
          return;
        }
      }
      this.effects.length = 0;
      this.effectHead = 0;
      this.events.length = 0;
      this.eventHead = 0;
    } finally {
      this.compact();
      this.running = false;
    }
  }

  /** Keeps the queues from holding on to what has been done. */
  private compact(): void {
    if (this.effectHead > 1024 && this.effectHead * 2 > this.effects.length) {
      this.effects.splice(0, this.effectHead);
      this.effectHead = 0;
    }
    if (this.eventHead > 1024 && this.eventHead * 2 > this.events.length) {
      this.events.splice(0, this.eventHead);
      this.eventHead = 0;
    }
  }

  private feed(event: CoreEvent): void {
    try {
      this.enqueue(this.core.handle(event, this.sys.now()));
    } catch (err) {
      this.opts.say("error", `internal error while handling ${event.type}: ${errorText(err)}`);
    }
  }

  private perform(effect: Effect): void {
    try {
      this.carryOut(effect);
    } catch (err) {
      this.opts.say("error", `internal error while performing ${effect.type}: ${errorText(err)}`);
    }
  }

  private carryOut(effect: Effect): void {
    switch (effect.type) {
      case "spawn":
        if (effect.role === "main" && this.queuedSpawns.get(effect.name) === effect) {
          this.queuedSpawns.delete(effect.name);
        }
        if (this.cancelled.delete(effect)) return;
        this.spawn(effect.name, effect.role, effect.spec);
        return;
      case "signal":
        this.signalAll(effect.name, effect.pid, effect.signal);
        return;
      case "killGroup":
        // ESRCH: the group is already gone, which is what was wanted.
        this.sys.killGroup(effect.pid, effect.signal);
        return;
      case "probe":
        this.probe(effect.name, effect.level, effect.check, effect.timeoutMs);
        return;
      case "cancelSpawn":
        // Handled when queued (see enqueue).
        return;
      case "confirmMain":
        // Reaped by its own parent, its exit would never reach us: that parent's stands for it.
        if (!this.tracker.alive(effect.name, effect.pid)) {
          this.post({ type: "exited", pid: effect.pid, status: effect.status });
        }
        return;
      case "cancelProbe":
        this.probes.delete(`${effect.level}\0${effect.name}`);
        if (effect.level === "ready") {
          const w = this.watches.get(effect.name)?.ready;
          if (w) w.armed = false;
        }
        return;
      case "timer":
        this.setTimer(effect.name, effect.kind, effect.ms);
        return;
      case "cancelTimer":
        this.clearTimer(`${effect.kind}\0${effect.name}`);
        return;
      case "log":
        this.opts.say(effect.level, effect.message);
        return;
      case "changed":
        for (const listener of this.changeListeners) {
          try {
            listener(effect.change);
          } catch {
            // A waiter or subscriber that throws loses this change only.
          }
        }
        return;
      case "stopped": {
        const waiters = this.stopWaiters.get(effect.name) ?? [];
        this.stopWaiters.delete(effect.name);
        for (const resolve of waiters) resolve();
        return;
      }
      case "power":
        this.opts.onPower(effect.mode, effect.exitCode);
        return;
    }
  }

  // ---- effects -------------------------------------------------------------------------------

  private spawn(name: string, role: Role, spec: SpawnSpec): void {
    const env = serviceEnv(this.opts.baseEnv, this.opts.etcEnv, spec.env);
    let extraFd: { fd: number; sink: ChunkSink } | undefined;
    let watches: Watches | undefined;
    if (role === "main") {
      this.watches.delete(name);
      if (spec.watch.length > 0) {
        watches = {};
        for (const w of spec.watch)
          watches[w.level] = { re: new RegExp(w.pattern), seen: false, armed: false };
        this.watches.set(name, watches);
      }
      if (spec.notify?.kind === "fd") {
        env.READY_FD = String(spec.notify.fd);
        extraFd = { fd: spec.notify.fd, sink: this.readyFdSink(name) };
      } else if (spec.notify?.kind === "systemd") {
        const socket = this.notifySocket(name);
        if (socket === null) {
          this.feed({ type: "spawnFailed", name, role, error: "no notify socket (see the log)" });
          return;
        }
        env.NOTIFY_SOCKET = socket;
      }
      if (spec.watchdogMs !== null) env.WATCHDOG_USEC = String(spec.watchdogMs * 1000);
    }
    const output = this.opts.logs.open({
      label: spec.label,
      mode: spec.log,
      service: name,
      file: this.core.has(name) ? this.core.config(name).logFile : undefined,
      onLine: watches ? (_stream, text) => this.sawLine(name, watches, text) : undefined,
    });
    const result = this.sys.spawn({
      argv: spec.argv,
      env,
      cwd: spec.cwd,
      stdout: output.stdout,
      stderr: output.stderr,
      extraFd,
    });
    if (!result.ok) {
      // Both ends of every pipe are already closed: the sinks never see a byte.
      this.feed({ type: "spawnFailed", name, role, error: result.error });
      return;
    }
    if (role === "main") this.tracker.addSession(name, result.pid);
    this.feed({ type: "spawned", name, role, pid: result.pid });
  }

  /** The path of the service's sd_notify socket, made on first use; null if it cannot be. */
  private notifySocket(name: string): string | null {
    const existing = this.notifySockets.get(name);
    if (existing) return existing.path;
    // Numbered, not named: a service name may be longer than a socket path can be.
    const path = `${this.opts.notifyDir}/${++this.notifySerial}.sock`;
    const socket = this.sys.notifySocket(path, (d) => this.notified(name, d.pid, d.text));
    if (!socket.ok) {
      this.opts.say("error", `service ${name}: ${socket.error}`);
      return null;
    }
    this.notifySockets.set(name, { path, close: socket.close });
    return path;
  }

  /**
   * A datagram on a service's notify socket: taken only from a process of that service, and a
   * `MAINPID=` only when it names one too.
   */
  private notified(name: string, pid: number, text: string): void {
    if (!this.tracker.owns(name, pid)) {
      this.opts.say(
        "warn",
        `service ${name}: ignored a notification from pid ${pid}, not one of its processes`,
      );
      return;
    }
    const fields = parseNotify(text);
    const mainPid = fields.MAINPID;
    if (mainPid !== undefined) {
      const main = /^[1-9][0-9]{0,9}$/.test(mainPid) ? Number(mainPid) : 0;
      if (main !== 0 && this.tracker.owns(name, main)) {
        this.tracker.adopt(name, main);
      } else {
        this.opts.say(
          "warn",
          `service ${name}: ignored MAINPID=${JSON.stringify(mainPid.slice(0, 32))} from pid ${pid}: not one of its processes`,
        );
        delete fields.MAINPID;
      }
    }
    this.post({ type: "notify", name, pid, fields });
  }

  /** A newline on the notify fd means READY=1 (s6 / dinit style). */
  private readyFdSink(name: string): ChunkSink {
    let said = false;
    return {
      push: (bytes) => {
        if (said || !bytes.includes(0x0a)) return;
        said = true;
        this.post({ type: "notify", name, pid: 0, fields: { READY: "1" } });
      },
      end: () => {},
    };
  }

  /** A line of a run's output: each log probe that has not matched yet is tried on it. */
  private sawLine(name: string, watches: Watches, text: string): void {
    if (this.watches.get(name) !== watches) return; // a line of an earlier run, read late
    const { ready, live } = watches;
    // Once matched, a probe needs no more lines until its next check: readiness is checked
    // once per run, liveness forgets its match at each check.
    if (live && !live.seen && live.re.test(text)) live.seen = true;
    if (ready && !ready.seen && ready.re.test(text)) {
      ready.seen = true;
      if (ready.armed) {
        ready.armed = false;
        this.post({ type: "probeDone", name, level: "ready", ok: true, detail: "matched" });
      }
    }
  }

  private signalAll(name: string, pid: number, signal: number): void {
    // Find the members before signalling: a dying parent would orphan its setsid'd children.
    const found = this.tracker.members(name);
    const groups = new Set<number>();
    if (pid !== 0) groups.add(pid);
    for (const p of found) if (p.pgid === p.sid && p.sid === p.pid) groups.add(p.pgid);
    for (const pgid of groups) this.sys.killGroup(pgid, signal);
    // One signal per process: those in a signalled group already got it.
    for (const p of found) if (!groups.has(p.pgid)) this.sys.kill(p.pid, signal);
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
    this.feed({ type: "drained", name });
  }

  /** One wake-up of the reaper: every exit becomes an event, then stopping services are rechecked. */
  private onExits(exits: Exit[]): void {
    const recheck = new Set<string>();
    for (const exit of exits) {
      const owner = this.tracker.ownerOfExit(exit.pid, exit.info);
      this.events.push({ type: "exited", pid: exit.pid, status: exit.status });
      if (owner !== undefined && this.draining.has(owner)) recheck.add(owner);
    }
    for (const name of recheck) {
      if (this.tracker.anyAlive(name)) continue;
      this.draining.delete(name);
      this.events.push({ type: "drained", name });
    }
    this.kick();
    for (const listener of this.reapListeners) {
      try {
        listener();
      } catch (err) {
        this.opts.say("error", `internal error after reaping: ${errorText(err)}`);
      }
    }
  }

  private probe(name: string, level: ProbeLevel, check: NetProbe, timeoutMs: number): void {
    const key = `${level}\0${name}`;
    if (check.kind === "log") {
      const watch = this.watches.get(name)?.[level];
      if (!watch) {
        this.feed({ type: "probeDone", name, level, ok: false, detail: "no output to watch" });
        return;
      }
      if (level === "live") {
        // A line matched since the previous check (the first check: since the spawn).
        const ok = watch.seen;
        watch.seen = false;
        const detail = ok ? "matched" : "no output line matched since the previous check";
        this.feed({ type: "probeDone", name, level, ok, detail });
        return;
      }
      if (watch.seen) this.feed({ type: "probeDone", name, level, ok: true, detail: "matched" });
      // Else the first matching line answers (sawLine).
      else watch.armed = true;
      return;
    }
    const serial = ++this.probeSerial;
    this.probes.set(key, serial);
    const answer = (ok: boolean, detail: string) => {
      if (this.probes.get(key) !== serial) return;
      this.probes.delete(key);
      this.post({ type: "probeDone", name, level, ok, detail });
    };
    if (check.kind === "tcp") {
      this.sys
        .tcpExchange({
          host: check.host,
          port: check.port,
          request: null,
          timeoutMs,
          enough: () => true,
        })
        .then((r) =>
          answer(r.ok, r.ok ? "connected" : `connect ${check.host}:${check.port}: ${r.error}`),
        );
      return;
    }
    const target = parseProbeUrl(check.url);
    if (typeof target === "string") {
      answer(false, target);
      return;
    }
    const decoder = new TextDecoder();
    this.sys
      .tcpExchange({
        host: target.host,
        port: target.port,
        request: new TextEncoder().encode(httpRequest(target)),
        timeoutMs,
        enough: (reply) => replyStatus(decoder.decode(reply)) !== null,
      })
      .then((r) => {
        if (!r.ok) return answer(false, `GET ${check.url}: ${r.error}`);
        const status = replyStatus(decoder.decode(r.reply));
        if (status === null || Number.isNaN(status))
          return answer(false, `GET ${check.url}: not an HTTP reply`);
        const ok = status >= check.status.min && status <= check.status.max;
        answer(ok, `GET ${check.url}: status ${status}`);
      });
  }

  private setTimer(name: string, kind: TimerKind, ms: number): void {
    const key = `${kind}\0${name}`;
    this.clearTimer(key);
    this.timers.set(
      key,
      this.sys.setTimer(ms, () => {
        this.timers.delete(key);
        this.post({ type: "timer", name, kind });
      }),
    );
  }

  private clearTimer(key: string): void {
    const timer = this.timers.get(key);
    if (timer !== undefined) {
      this.sys.clearTimer(timer);
      this.timers.delete(key);
    }
  }
}
