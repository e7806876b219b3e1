// The real daemon (shell, core, method table, log ring) over the fake Sys: what the API and shell
// tests drive, with no process, socket or root needed.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Control } from "../../src/api/control.ts";
import { createHttpHost, type HttpHostHandle } from "../../src/api/http-host.ts";
import { createMethodTable, type MethodTable } from "../../src/api/methods.ts";
import { probeRoutes } from "../../src/api/probes.ts";
import { ServiceStore } from "../../src/config/store.ts";
import type { LogLevel, PowerMode } from "../../src/core/effects.ts";
import type { StdoutFormat } from "../../src/defaults.ts";
import { ServiceLogs } from "../../src/log/outputs.ts";
import { LogRing } from "../../src/log/ring.ts";
import { Daemon } from "../../src/shell/daemon.ts";
import { Shell } from "../../src/shell/shell.ts";
import { FakeSys } from "./fake-sys.ts";

export interface TestDaemonOptions {
  /** File name (`.yaml` added when missing) → YAML, written into the config directory. */
  files?: Record<string, string>;
  /** Monitor every file at start, as `zinit init` does (default true). */
  load?: boolean;
  buffer?: number;
  canPower?: boolean;
  /** Service name → the pid its first process gets (the fake Sys counts up from 100). */
  pids?: Record<string, number>;
  /** `init --log-dir`. */
  logDir?: string;
  stdoutFormat?: StdoutFormat;
}

export interface TestDaemon {
  sys: FakeSys;
  shell: Shell;
  daemon: Daemon;
  table: MethodTable;
  ring: LogRing;
  logs: ServiceLogs;
  configDir: string;
  files: ServiceStore;
  /** zinit's own log lines, `LEVEL message`. */
  said: string[];
  /** The `power` effects, in order. */
  powered: Array<{ mode: PowerMode; exitCode: number }>;
  /** The HTTP/WebSocket server host of `system_start_http_server` (binds only when started). */
  http: HttpHostHandle;
  /** Every call made on `daemon` (by the method table, the transports or the test), in order. */
  calls: Array<{ method: string; args: unknown[] }>;
  /** Writes a service file (it is not monitored until asked). */
  write(file: string, yaml: string): void;
  /** Log subscriptions open right now (JSON-RPC, WebSocket and legacy followers). */
  subscribers(): number;
  /** Calls a method of the table; resolves with its result or rejects with its ApiError. */
  call(method: string, params?: unknown): Promise<unknown>;
  /**
   * Drives the fake system (reaping, deferred work) until `promise` settles, for calls that wait
   * on processes: a stop resolves only once its processes have been reaped.
   */
  settle<T>(promise: Promise<T>): Promise<T>;
  close(): void;
}

export async function testDaemon(opts: TestDaemonOptions = {}): Promise<TestDaemon> {
  const configDir = mkdtempSync(join(tmpdir(), "zinit-daemon-"));
  const sys = new FakeSys();
  const said: string[] = [];
  const ring = new LogRing({ lines: opts.buffer ?? 2000, clock: () => sys.wallClock() });
  const logs = new ServiceLogs({
    ring,
    wallClock: () => sys.wallClock(),
    now: () => sys.now(),
    logDir: opts.logDir ?? null,
    stdoutFormat: opts.stdoutFormat,
    report: (level, message) => said.push(`${level.toUpperCase()} ${message}`),
  });
  const powered: TestDaemon["powered"] = [];
  const say = (level: LogLevel, message: string) => {
    said.push(`${level.toUpperCase()} ${message}`);
    ring.pushText("zinit", "stderr", message);
  };
  const shell = new Shell({
    sys,
    logs,
    baseEnv: { PATH: "/usr/bin:/bin" },
    etcEnv: {},
    canPower: opts.canPower ?? false,
    say,
    onPower: (mode, exitCode) => powered.push({ mode, exitCode }),
    notifyDir: "/run/zinit-test/notify",
  });
  shell.start();
  // One log for the shell and the store, as in `zinit init`.
  const files = new ServiceStore(configDir, { report: say });
  const daemon = new Daemon({
    files,
    shell,
    sys,
    logs,
    powerMode: (reboot) => (opts.canPower ? (reboot ? "reboot" : "poweroff") : "exit"),
    // What the fake processes use, as the test set it (nothing, by default).
    scanUsage: () =>
      [...sys.procs.values()]
        .filter((p) => p.state !== "Z")
        .map((p) => ({
          pid: p.pid,
          ppid: p.ppid,
          sid: p.sid,
          starttime: p.starttime,
          rss: p.usage?.rss ?? 0,
          cpuSeconds: p.usage?.cpuSeconds ?? 0,
        })),
  });
  // The daemon itself, except that log subscriptions are counted so tests can see them end, and
  // every call is logged so tests can see what reached it (and what never did).
  let subscribers = 0;
  const calls: TestDaemon["calls"] = [];
  const counted = Object.create(daemon) as Daemon;
  counted.subscribeLogs = (name, listener) => {
    const stop = daemon.subscribeLogs(name, listener);
    subscribers++;
    let open = true;
    return () => {
      if (open) subscribers--;
      open = false;
      stop();
    };
  };
  const control = new Proxy(counted, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== "function" || typeof key !== "string" || key === "constructor") {
        return value;
      }
      return (...args: unknown[]) => {
        calls.push({ method: key, args });
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) satisfies Control;
  // The same open routes (probes, metrics) as `zinit init` serves.
  const http = createHttpHost(() => table, { onStart: () => {}, openRoutes: probeRoutes(control) });
  const table = createMethodTable(control, { files, http });
  const write = (file: string, yaml: string) =>
    writeFileSync(join(configDir, /\.ya?ml$/.test(file) ? file : `${file}.yaml`), yaml);
  for (const [file, yaml] of Object.entries(opts.files ?? {})) write(file, yaml);
  const t: TestDaemon = {
    sys,
    shell,
    daemon: control,
    table,
    ring,
    logs,
    configDir,
    files,
    said,
    powered,
    http,
    calls,
    write,
    subscribers: () => subscribers,
    async call(method, params) {
      const def = table.get(method);
      if (def?.kind !== "call") throw new Error(`${method} is not a call method`);
      return def.call(params);
    },
    async settle(promise) {
      let done = false;
      const finished = () => {
        done = true;
      };
      promise.then(finished, finished);
      for (let round = 0; round < 100 && !done; round++) await sys.flush();
      return promise;
    },
    close: () => {
      void http.close();
      rmSync(configDir, { recursive: true, force: true });
    },
  };
  if (opts.load ?? true) {
    for (const file of Object.keys(opts.files ?? {})) {
      const name = file.replace(/\.ya?ml$/, "");
      const pid = opts.pids?.[name];
      if (pid !== undefined) sys.nextPid = pid;
      await daemon.monitor(name);
      await sys.flush();
    }
    await sys.flush();
  }
  return t;
}
