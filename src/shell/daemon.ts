// The running daemon as the method table sees it (src/api/control.ts): each call is a core
// command or query carried out through the shell.

import type { Control, ServiceDetail, ServiceStats, ServiceStatus } from "../api/control.ts";
import { loadService } from "../config/load.ts";
import type { PowerMode } from "../core/effects.ts";
import { alreadyMonitored, errorText, shuttingDown, ZinitError } from "../core/errors.ts";
import { parseSignal } from "../core/signals.ts";
import type { ServiceLogs } from "../log/outputs.ts";
import type { LogQuery, QueryResult } from "../log/query.ts";
import { type FollowListener, type RecordFilter, SNAPSHOT_REPLY_BYTES } from "../log/ring.ts";
import { strerror } from "../sys/libc.ts";
import type { Sys } from "../sys/port.ts";
import { sampleStats } from "../sys/proc.ts";
import type { Shell } from "./shell.ts";

/** One CPU sampling window for `service_stats` (upstream sleeps twice 500 ms). */
const STATS_WINDOW_MS = 100;

export interface DaemonOptions {
  configDir: string;
  shell: Shell;
  sys: Sys;
  logs: ServiceLogs;
  /** Power modes this daemon may use: containers and non-PID-1 runs only exit. */
  powerMode: (reboot: boolean) => PowerMode;
}

export class Daemon implements Control {
  private readonly shell: Shell;

  constructor(private readonly opts: DaemonOptions) {
    this.shell = opts.shell;
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
    let config: ReturnType<typeof loadService>;
    try {
      config = loadService(this.opts.configDir, name);
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
  }

  kill(name: string, signal: string): void {
    const num = parseSignal(signal);
    if (num === null) {
      throw new ZinitError("InvalidSignal", `invalid signal '${signal}'`, { signal });
    }
    const pid = this.core.requireRunning(name);
    const errno = this.opts.sys.killGroup(pid, num);
    if (errno !== 0) {
      throw new ZinitError("InternalError", strerror(errno), { service: name });
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

  shutdown(reboot: boolean): void {
    this.shell.command((now) => this.core.shutdown(this.opts.powerMode(reboot), now));
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
}
