// An in-memory Control (src/api/control.ts) for API tests: services, states, a log ring and
// subscriptions, HTTP server bookkeeping and shutdown, with upstream's rules and errors but no
// processes. Tests steer it through its public fields: `services`, `gate` (hold stop() open),
// `fail` (make the next call of a method throw) and `calls` (what was asked of it).

import type {
  Control,
  LogListener,
  ServiceDetail,
  ServiceStats,
  ServiceStatus,
} from "../../src/api/control.ts";
import { createMethodTable, type MethodTable } from "../../src/api/methods.ts";
import { ServiceStore } from "../../src/config/store.ts";
import {
  alreadyMonitored,
  isDown,
  isUp,
  notFound,
  shuttingDown,
  ZinitError,
} from "../../src/core/errors.ts";
import { parseSignal } from "../../src/core/signals.ts";
import { LogQueries, type LogQuery, type QueryResult } from "../../src/log/query.ts";
import { type FollowListener, LogRing, type RecordFilter } from "../../src/log/ring.ts";

export interface FakeService {
  state: string;
  pid: number;
  target: "Up" | "Down";
  after: string[];
  /** What service_stats reports while pid != 0 (pid/name are filled in). */
  children: { pid: number; memory_usage: number; cpu_usage: number }[];
  /** Signals sent by kill(), in order. */
  signals: string[];
}

export interface Call {
  method: string;
  args: unknown[];
}

export class FakeControl implements Control {
  readonly services = new Map<string, FakeService>();
  readonly calls: Call[] = [];
  /** Lines in the ring, oldest first. */
  readonly lines: string[] = [];
  /** Wall-clock time stamped on the records of `log()`. */
  clock = 1_767_225_600_000;
  /** The same lines as records, for queryLogs and followLogs. */
  readonly ring = new LogRing({ lines: 1000, clock: () => this.clock });
  private readonly queries = new LogQueries(this.ring);
  /** What reopenLogs() answers. */
  reopened: string[] = [];
  readonly listeners = new Set<{ name: string | undefined; listener: LogListener }>();
  /** Set by shutdown(): "shutdown" or "reboot". */
  shutdownMode: "shutdown" | "reboot" | null = null;
  /** The running HTTP server's address, if any. */
  http: string | null = null;
  /** While set, stop() resolves only after this promise does. */
  gate: Promise<void> | null = null;
  /** Method name → what its next call throws. */
  readonly fail = new Map<string, unknown>();
  private nextPid = 1000;

  readonly files: ServiceStore;

  constructor(readonly configDir: string = "/nonexistent/zinit-test") {
    this.files = new ServiceStore(configDir);
  }

  get shuttingDown(): boolean {
    return this.shutdownMode !== null;
  }

  /** Adds a service; by default Running with a fresh pid and target Up. */
  add(name: string, opts: Partial<FakeService> = {}): FakeService {
    const running = opts.pid ?? this.nextPid++;
    const svc: FakeService = {
      state: "Running",
      pid: running,
      target: "Up",
      after: [],
      children: [],
      signals: [],
      ...opts,
    };
    this.services.set(name, svc);
    return svc;
  }

  /** Appends a line to the ring and hands it to every matching subscriber. */
  log(line: string): void {
    this.lines.push(line);
    const m = /^\[([+-])\] (.*?): (.*)$/s.exec(line);
    if (m) this.ring.pushText(m[2] as string, m[1] === "+" ? "stdout" : "stderr", m[3] as string);
    for (const { name, listener } of [...this.listeners]) {
      if (matches(line, name)) listener(line);
    }
  }

  private enter(method: string, ...args: unknown[]): void {
    this.calls.push({ method, args });
    if (this.fail.has(method)) {
      const err = this.fail.get(method);
      this.fail.delete(method);
      throw err;
    }
  }

  private get(name: string): FakeService {
    const svc = this.services.get(name);
    if (!svc) throw notFound(name);
    return svc;
  }

  list(): Record<string, string> {
    this.enter("list");
    return Object.fromEntries([...this.services].map(([name, s]) => [name, s.state]));
  }

  status(name: string): ServiceStatus {
    this.enter("status", name);
    const svc = this.get(name);
    const after = Object.fromEntries(
      svc.after.map((dep) => [dep, this.services.get(dep)?.state ?? "Unknown"]),
    );
    return { name, pid: svc.pid, state: svc.state, target: svc.target, after };
  }

  wait(): never {
    throw new Error("FakeControl does not wait; use test/helpers/daemon.ts");
  }

  subscribeEvents(): never {
    throw new Error("FakeControl has no events; use test/helpers/daemon.ts");
  }

  shutdownTimeout(name: string): number {
    this.get(name);
    return 10;
  }

  inspect(name: string): ServiceDetail {
    this.enter("inspect", name);
    return {
      ...this.status(name),
      phase: "running",
      ready: this.get(name).state === "Running",
      reason: "",
      restarts: 0,
      restarts_left: null,
      next_restart_ms: null,
      last_exit: null,
      uptime_ms: null,
      critical: false,
      status_text: "",
      check_failure: "",
    };
  }

  start(name: string): void {
    this.enter("start", name);
    if (this.shutdownMode) throw shuttingDown();
    const svc = this.get(name);
    svc.target = "Up";
    if (svc.pid === 0) {
      svc.pid = this.nextPid++;
      svc.state = "Running";
    }
  }

  async stop(name: string): Promise<void> {
    this.enter("stop", name);
    const svc = this.get(name);
    svc.target = "Down";
    if (this.gate) await this.gate;
    if (svc.pid !== 0) svc.state = `Error(Signaled(Pid(${svc.pid}), SIGTERM, false))`;
    svc.pid = 0;
  }

  async monitor(name: string): Promise<void> {
    this.enter("monitor", name);
    if (this.shutdownMode) throw shuttingDown();
    if (this.services.has(name)) throw alreadyMonitored(name);
    let after: string[];
    try {
      after = this.files.load(name).config.after;
    } catch (err) {
      throw new ZinitError("ConfigError", `failed to load '${name}.yaml'`, {
        service: name,
        causes: [err instanceof Error ? err.message : String(err)],
      });
    }
    this.add(name, { after });
  }

  forget(name: string): void {
    this.enter("forget", name);
    const svc = this.get(name);
    if (svc.target === "Up" || svc.pid !== 0) throw isUp(name);
    this.services.delete(name);
  }

  kill(name: string, signal: string): void {
    this.enter("kill", name, signal);
    if (parseSignal(signal) === null) {
      throw new ZinitError("InvalidSignal", `invalid signal '${signal}'`, { signal });
    }
    const svc = this.get(name);
    if (svc.pid === 0) throw isDown(name);
    svc.signals.push(signal.toUpperCase());
  }

  async stats(name: string): Promise<ServiceStats> {
    this.enter("stats", name);
    const svc = this.get(name);
    if (svc.pid === 0) throw isDown(name);
    return {
      name,
      pid: svc.pid,
      memory_usage: svc.pid * 4096,
      cpu_usage: 1.5,
      children: svc.children.map((c) => ({ ...c })),
    };
  }

  shutdown(reboot: boolean): void {
    this.enter("shutdown", reboot);
    if (this.shutdownMode) throw shuttingDown();
    this.shutdownMode = reboot ? "reboot" : "shutdown";
  }

  logs(name?: string): string[] {
    this.enter("logs", name);
    return this.lines.filter((line) => matches(line, name));
  }

  subscribeLogs(name: string | undefined, listener: LogListener): () => void {
    this.enter("subscribeLogs", name);
    const entry = { name, listener };
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }

  queryLogs(query: LogQuery): Promise<QueryResult> {
    this.enter("queryLogs", query);
    return this.queries.run(query);
  }

  followLogs(filter: RecordFilter, listener: FollowListener): () => void {
    this.enter("followLogs", filter);
    return this.ring.follow(filter, listener);
  }

  reopenLogs(): string[] {
    this.enter("reopenLogs");
    return [...this.reopened];
  }

  async startHttp(address: string): Promise<string> {
    this.enter("startHttp", address);
    const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(address);
    if (!m) {
      throw new Error("Failed to parse socket address", {
        cause: new Error("invalid socket address syntax"),
      });
    }
    // Port 0 binds a free port, as a real server would.
    this.http = m[2] === "0" ? `${m[1]}:40000` : address;
    return this.http;
  }

  async stopHttp(): Promise<void> {
    this.enter("stopHttp");
    if (!this.http) throw new Error("No HTTP/RPC server is currently running");
    this.http = null;
  }
}

/** Upstream's filter: the text after the 4-character `[+] ` prefix starts with `<name>:`. */
function matches(line: string, name: string | undefined): boolean {
  return name === undefined || line.slice(4).startsWith(`${name}:`);
}

/** The method table over a FakeControl, with its HTTP bookkeeping as the HTTP host. */
export function fakeTable(fake: FakeControl): MethodTable {
  return createMethodTable(fake, {
    files: fake.files,
    http: {
      start: (address) => fake.startHttp(address),
      stop: () => fake.stopHttp(),
      state: () => ({
        address: fake.http,
        started_by: fake.http ? "request" : null,
        cors_origins: [],
        allow_hosts: [],
        token: false,
      }),
      setAccess: () => {
        throw new Error("not in the fake");
      },
    },
  });
}
