// The running daemon as the method table sees it (src/api/control.ts): each call is a core
// command or query carried out through the shell.

import { constants } from "node:os";
import type {
  Control,
  ServiceChange,
  ServiceDetail,
  ServiceEvent,
  ServiceStats,
  ServiceStatus,
  ServiceUsage,
  ServiceView,
  WaitCondition,
  WaitResult,
} from "../api/control.ts";
import type { ServiceStore } from "../config/store.ts";
import type { PowerMode } from "../core/effects.ts";
import { alreadyMonitored, errorText, notFound, shuttingDown, ZinitError } from "../core/errors.ts";
import { MAX_TIMER_MS } from "../core/policy.ts";
import { parseSignal } from "../core/signals.ts";
import type { ServiceConfig } from "../core/types.ts";
import type { ServiceLogs } from "../log/outputs.ts";
import type { LogQuery, QueryResult } from "../log/query.ts";
import { type FollowListener, type RecordFilter, SNAPSHOT_REPLY_BYTES } from "../log/ring.ts";
import { strerror } from "../sys/libc.ts";
import type { Sys } from "../sys/port.ts";
import { sampleStats } from "../sys/proc.ts";
import type { Shell } from "./shell.ts";
import { type ProcUsage, scanUsage, type UsageScan } from "./usage.ts";

/** One CPU sampling window for `service_stats` (upstream sleeps twice 500 ms). */
const STATS_WINDOW_MS = 100;

/** errno → its name (the first one, for aliases such as EAGAIN/EWOULDBLOCK). */
const ERRNO_NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!ERRNO_NAMES.has(value)) ERRNO_NAMES.set(value, name);
}

/** Upstream's rendering of an errno (nix's Display): `ESRCH: No such process`. */
function errnoText(errno: number): string {
  const name = ERRNO_NAMES.get(errno);
  return name === undefined ? strerror(errno) : `${name}: ${strerror(errno)}`;
}

interface DaemonOptions {
  /** The config directory's service files (`monitor` loads from it). */
  files: ServiceStore;
  shell: Shell;
  sys: Sys;
  logs: ServiceLogs;
  /** Power modes this daemon may use: containers and non-PID-1 runs only exit. */
  powerMode: (reboot: boolean) => PowerMode;
  /** How every process's usage is read for `usage` (default: one pass over /proc). */
  scanUsage?: UsageScan;
}

export class Daemon implements Control {
  private readonly shell: Shell;
  /** Each service as event subscribers last heard of it. */
  private readonly views = new Map<string, ServiceView>();
  private readonly eventListeners = new Set<(event: ServiceEvent) => void>();

  constructor(private readonly opts: DaemonOptions) {
    this.shell = opts.shell;
    this.shell.onChange((change) => this.relay(change));
  }

  /** A change the shell carried out: stamped, remembered, and passed on in order. */
  private relay(change: ServiceChange): void {
    // Still queued when its service was forgotten: not news any more.
    if (!this.core.has(change.name)) return;
    const view: ServiceView = { ...change, time: this.opts.sys.wallClock() };
    this.views.set(change.name, view);
    this.emit({ event: "change", ...view });
  }

  private emit(event: ServiceEvent): void {
    for (const listener of this.eventListeners) {
      try {
        listener(event);
      } catch {
        // A waiter or subscriber that throws loses this event only.
      }
    }
  }

  private onEvent(listener: (event: ServiceEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** What subscribers last heard of each service, in name order. */
  private currentViews(): ServiceView[] {
    return this.core.names().flatMap((name) => this.views.get(name) ?? []);
  }

  private get core() {
    return this.shell.core;
  }

  list(): Record<string, string> {
    return this.core.list();
  }

  status(name: string): ServiceStatus {
    return this.core.status(name);
  }

  shutdownTimeout(name: string): number {
    return this.core.config(name).shutdownTimeout;
  }

  inspect(name: string): ServiceDetail {
    return this.core.inspect(name, this.opts.sys.now());
  }

  start(name: string): void {
    this.shell.command((now) => this.core.start(name, now));
  }

  stop(name: string): Promise<void> {
    return this.shell.stop(name);
  }

  async monitor(name: string): Promise<void> {
    if (this.core.shuttingDown) throw shuttingDown();
    if (this.core.has(name)) throw alreadyMonitored(name);
    let config: ServiceConfig;
    try {
      // The store logs why a file does not load, as at start-up.
      config = this.opts.files.load(name).config;
    } catch (err) {
      throw new ZinitError("ConfigError", `failed to load '${name}.yaml'`, {
        service: name,
        causes: [errorText(err)],
      });
    }
    this.shell.command((now) => this.core.monitor(name, config, now));
  }

  forget(name: string): void {
    this.shell.forget(name);
    this.views.delete(name);
    this.emit({ event: "forgotten", name, time: this.opts.sys.wallClock() });
  }

  kill(name: string, signal: string): void {
    const num = parseSignal(signal);
    if (num === null) {
      throw new ZinitError("InvalidSignal", `invalid signal '${signal}'`, { signal });
    }
    const pid = this.core.requireRunning(name);
    // Upstream signals the main process's group, which a spawned main process leads (ESRCH if
    // it left it, as upstream); one that MAINPID= named may lead none: it gets the signal itself.
    const group = !this.core.announcedMain(name) || this.opts.sys.proc(pid)?.pgid === pid;
    const errno = group ? this.opts.sys.killGroup(pid, num) : this.opts.sys.kill(pid, num);
    if (errno !== 0) {
      throw new ZinitError("InternalError", errnoText(errno), { service: name });
    }
  }

  async stats(name: string): Promise<ServiceStats> {
    const pid = this.core.requireRunning(name);
    const children = this.shell
      .members(name)
      .map((p) => p.pid)
      .filter((p) => p !== pid)
      .sort((a, b) => a - b);
    const sample = await sampleStats([pid, ...children], STATS_WINDOW_MS);
    const of = (p: number) => ({
      pid: p,
      memory_usage: sample.get(p)?.rss ?? 0,
      cpu_usage: sample.get(p)?.cpu ?? 0,
    });
    return { name, ...of(pid), children: children.filter((c) => sample.has(c)).map(of) };
  }

  get shuttingDown(): boolean {
    return this.core.shuttingDown;
  }

  shutdown(reboot: boolean): void {
    this.shell.command((now) => this.core.shutdown(this.opts.powerMode(reboot), now));
  }

  usage(): Record<string, ServiceUsage> {
    const procs = (this.opts.scanUsage ?? scanUsage)();
    const byPid = new Map<number, ProcUsage>();
    const children = new Map<number, number[]>();
    const bySession = new Map<number, number[]>();
    for (const p of procs) {
      byPid.set(p.pid, p);
      push(children, p.ppid, p.pid);
      push(bySession, p.sid, p.pid);
    }
    const self = this.opts.sys.self();
    const out: Record<string, ServiceUsage> = {};
    for (const name of this.core.names()) {
      const usage: ServiceUsage = { processes: 0, rss: 0, cpu_seconds: 0 };
      out[name] = usage;
      const main = this.core.status(name).pid;
      if (main === 0 || !byPid.has(main)) continue;
      // The main process, every process of the session it leads, and all their descendants.
      const seen = new Set<number>();
      const stack = [main, ...(bySession.get(main) ?? [])];
      for (let pid = stack.pop(); pid !== undefined; pid = stack.pop()) {
        const p = byPid.get(pid);
        if (!p || seen.has(pid) || pid === self) continue;
        seen.add(pid);
        usage.processes++;
        usage.rss += p.rss;
        usage.cpu_seconds += p.cpuSeconds;
        for (const kid of children.get(pid) ?? []) stack.push(kid);
      }
    }
    return out;
  }

  logs(name?: string): string[] {
    // Bounded so the reply fits the socket's output queue, whatever the ring holds.
    return this.opts.logs.ring.snapshot(name, SNAPSHOT_REPLY_BYTES);
  }

  subscribeLogs(name: string | undefined, listener: (line: string) => void): () => void {
    return this.opts.logs.ring.subscribe(name, listener);
  }

  queryLogs(query: LogQuery): Promise<QueryResult> {
    return this.opts.logs.queries.run(query);
  }

  followLogs(filter: RecordFilter, listener: FollowListener): () => void {
    return this.opts.logs.ring.follow(filter, listener);
  }

  reopenLogs(): string[] {
    return this.opts.logs.reopen();
  }

  wait(
    names: string[],
    condition: WaitCondition,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<WaitResult> {
    const core = this.core;
    for (const name of names) if (!core.has(name)) throw notFound(name);
    const unique = [...new Set(names)];
    const result = (why: WaitResult["why"]): WaitResult => {
      const services: WaitResult["services"] = {};
      for (const name of unique) {
        if (!core.has(name)) {
          services[name] = { state: "Unknown", met: false, reason: "forgotten" };
          continue;
        }
        // Why it is where it is: its failing check, if that is what holds it.
        const d = this.inspect(name);
        services[name] = {
          state: d.state,
          met: core.condition(name, condition) === "met",
          reason: d.check_failure || d.reason,
        };
      }
      return { ok: why === "met", services, why };
    };
    // Where every service stands: done, still waiting, or one can no longer get there.
    const verdict = (): WaitResult["why"] | null => {
      let all = true;
      for (const name of unique) {
        if (!core.has(name)) return "failed";
        const c = core.condition(name, condition);
        if (c === "impossible") return "failed";
        if (c !== "met") all = false;
      }
      return all ? "met" : null;
    };
    if (signal?.aborted) return Promise.reject(signal.reason);
    const now = verdict();
    if (now !== null) return Promise.resolve(result(now));
    return new Promise((resolve, reject) => {
      const done = () => {
        unsubscribe();
        if (timer !== undefined) this.opts.sys.clearTimer(timer);
        signal?.removeEventListener("abort", abort);
      };
      const finish = (why: WaitResult["why"]) => {
        done();
        resolve(result(why));
      };
      const abort = () => {
        done();
        reject(signal?.reason);
      };
      const unsubscribe = this.onEvent((event) => {
        if (!unique.includes(event.name)) return;
        const why = verdict();
        if (why !== null) finish(why);
      });
      const timer =
        timeoutMs > 0
          ? this.opts.sys.setTimer(Math.min(timeoutMs, MAX_TIMER_MS), () => finish("timeout"))
          : undefined;
      signal?.addEventListener("abort", abort, { once: true });
    });
  }

  subscribeEvents(listener: (event: ServiceEvent) => void): {
    snapshot: ServiceView[];
    current: () => ServiceView[];
    unsubscribe: () => void;
  } {
    // One synchronous step: no event can fall between the snapshot and the subscription.
    return {
      snapshot: this.currentViews(),
      current: () => this.currentViews(),
      unsubscribe: this.onEvent(listener),
    };
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
