// The real daemon (shell, core, method table, log ring) over the fake Sys: what the API and shell
// tests drive, with no process, socket or root needed.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HttpHost } from "../../src/api/control.ts";
import { createMethodTable, type MethodTable } from "../../src/api/methods.ts";
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
  /** zinit's own log lines, `LEVEL message`. */
  said: string[];
  /** The `power` effects, in order. */
  powered: Array<{ mode: PowerMode; exitCode: number }>;
  /** What the HTTP host was asked (`start ADDR`, `stop`). */
  http: string[];
  /** Writes a service file (it is not monitored until asked). */
  write(file: string, yaml: string): void;
  /** Calls a method of the table; resolves with its result or rejects with its RpcError. */
  call(method: string, params?: unknown): Promise<unknown>;
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
  const shell = new Shell({
    sys,
    logs,
    baseEnv: { PATH: "/usr/bin:/bin" },
    etcEnv: {},
    canPower: opts.canPower ?? false,
    say: (level: LogLevel, message: string) => {
      said.push(`${level.toUpperCase()} ${message}`);
      ring.pushText("zinit", "stderr", message);
    },
    onPower: (mode, exitCode) => powered.push({ mode, exitCode }),
  });
  shell.start();
  const daemon = new Daemon({
    configDir,
    shell,
    sys,
    logs,
    powerMode: (reboot) => (opts.canPower ? (reboot ? "reboot" : "poweroff") : "exit"),
  });
  const httpCalls: string[] = [];
  let httpAddress: string | null = null;
  const http: HttpHost = {
    async start(address) {
      httpCalls.push(`start ${address}`);
      httpAddress = address;
      return address;
    },
    async stop() {
      httpCalls.push("stop");
      if (httpAddress === null) throw new Error("No HTTP/RPC server is currently running");
      httpAddress = null;
    },
  };
  const table = createMethodTable(daemon, { configDir, http });
  const write = (file: string, yaml: string) =>
    writeFileSync(join(configDir, /\.ya?ml$/.test(file) ? file : `${file}.yaml`), yaml);
  for (const [file, yaml] of Object.entries(opts.files ?? {})) write(file, yaml);
  const t: TestDaemon = {
    sys,
    shell,
    daemon,
    table,
    ring,
    logs,
    configDir,
    said,
    powered,
    http: httpCalls,
    write,
    async call(method, params) {
      const def = table.get(method);
      if (def?.kind !== "call") throw new Error(`${method} is not a call method`);
      return def.call(params);
    },
    close: () => rmSync(configDir, { recursive: true, force: true }),
  };
  if (opts.load ?? true) {
    for (const file of Object.keys(opts.files ?? {})) {
      await daemon.monitor(file.replace(/\.ya?ml$/, ""));
    }
    await sys.flush();
  }
  return t;
}
