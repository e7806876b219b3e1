// One running supervisor: launched in the foreground, watched through /proc, and stopped by pid
// (its own stop signal first, then SIGSTOP+SIGKILL for whatever is left).

import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import type { Peer, ServiceSpec } from "../peers/types.ts";
import { alive, descendants, listPids, type ProcStat, readCmdline } from "./proc.ts";
import { waitFor } from "./util.ts";

const live = new Set<Session>();

/** Last resort when the bench itself is interrupted: nothing it started may outlive it. */
export function killAllSessions(): void {
  for (const session of live) session.kill();
}

export interface LaunchOptions {
  /** Prefix for the supervisor's argv, e.g. `unshare --pid --fork --mount-proc`. */
  wrap?: string[];
  /** Discard the supervisor's output instead of keeping it in `<dir>/supervisor.out`. */
  discardOutput?: boolean;
}

export class Session {
  readonly startedAt: number;
  private readonly proc: Bun.Subprocess;
  private exitCode: number | null = null;
  readonly exited: Promise<number>;

  constructor(
    readonly peer: Peer,
    readonly dir: string,
    opts: LaunchOptions = {},
  ) {
    const cmd = peer.command(dir);
    const outFd = opts.discardOutput ? null : openSync(join(dir, "supervisor.out"), "a");
    this.startedAt = performance.now();
    try {
      this.proc = Bun.spawn([...(opts.wrap ?? []), ...cmd.argv], {
        cwd: dir,
        env: { ...process.env, ...cmd.env },
        stdin: "ignore",
        stdout: outFd ?? "ignore",
        stderr: outFd ?? "ignore",
      });
    } finally {
      if (outFd !== null) closeSync(outFd);
    }
    live.add(this);
    this.exited = this.proc.exited.then((code) => {
      this.exitCode = code;
      return code;
    });
  }

  get pid(): number {
    return this.proc.pid;
  }

  get running(): boolean {
    return this.exitCode === null;
  }

  tree(): ProcStat[] {
    return this.running ? descendants(this.pid) : [];
  }

  /** The supervisor's own processes: its tree without the services and what they started. */
  supervisorProcs(finder: ServiceFinder): ProcStat[] {
    const tree = this.tree();
    const services = new Set(finder.scan().values());
    const excluded = new Set<number>();
    for (const st of tree) {
      if (services.has(st.pid) || excluded.has(st.ppid)) excluded.add(st.pid);
    }
    return tree.filter((st) => !excluded.has(st.pid));
  }

  /**
   * Sends the peer's stop signal and waits until the supervisor has exited and every process of
   * its tree is gone; resolves to the elapsed milliseconds. Whatever is left at the deadline is
   * killed, and the stop counts as failed (TimeoutError).
   */
  async stop(timeoutMs: number): Promise<number> {
    const tree = this.tree();
    const t0 = performance.now();
    if (this.running) process.kill(this.pid, this.peer.stopSignal);
    try {
      await waitFor("supervisor and services to exit", timeoutMs, () => {
        return !this.running && tree.every((st) => !alive(st.pid));
      });
      return performance.now() - t0;
    } finally {
      this.kill(tree);
      await this.exited;
      live.delete(this);
    }
  }

  /** Freezes the whole tree first so nothing can fork a survivor, then kills it by pid. */
  kill(seen: ProcStat[] = []): void {
    const pids = new Set(seen.map((st) => st.pid));
    for (let round = 0; round < 20; round++) {
      const fresh = this.tree().filter((st) => !pids.has(st.pid));
      if (fresh.length === 0 && round > 0) break;
      for (const st of fresh) pids.add(st.pid);
      for (const pid of pids) signal(pid, "SIGSTOP");
    }
    for (const pid of pids) signal(pid, "SIGKILL");
    if (this.running) signal(this.pid, "SIGKILL");
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/**
 * Finds service processes by their unique argv (`/bin/sleep <marker>`): the marker is random per
 * run, so no other process on the machine can be mistaken for a service.
 */
export class ServiceFinder {
  private readonly byMarker = new Map<string, string>();
  private readonly known = new Map<number, string>();

  constructor(services: ServiceSpec[]) {
    for (const svc of services) {
      const marker = svc.argv.at(-1);
      if (marker !== undefined) this.byMarker.set(marker, svc.name);
    }
  }

  /** Service name → pid of its running process. */
  scan(): Map<string, number> {
    const listed = new Set(listPids());
    for (const pid of this.known.keys()) if (!listed.has(pid)) this.known.delete(pid);
    for (const pid of listed) {
      if (this.known.has(pid)) continue;
      const argv = readCmdline(pid);
      if (argv.length !== 2 || !argv[0]!.endsWith("sleep")) continue;
      const name = this.byMarker.get(argv[1]!);
      if (name !== undefined) this.known.set(pid, name);
    }
    const out = new Map<string, number>();
    for (const [pid, name] of this.known) out.set(name, pid);
    return out;
  }

  /** Waits until every service runs; resolves to the time that took from `since`. */
  async waitAll(since: number, timeoutMs: number, session?: Session): Promise<number> {
    const want = this.byMarker.size;
    await waitFor(`${want} services to run`, timeoutMs, () => {
      if (session && !session.running) throw new Error(`${session.peer.name} exited early`);
      return this.scan().size >= want;
    });
    return performance.now() - since;
  }
}

let counter = 0;

/** `count` idle services with a marker unique to this run. */
export function sleepers(count: number, prefix = "svc"): ServiceSpec[] {
  const base = 700_000_000 + Math.floor(Math.random() * 90_000) * 1_000 + (counter++ % 1_000);
  return Array.from({ length: count }, (_, i) => ({
    name: `${prefix}${i}`,
    argv: ["/bin/sleep", String(base + i * 1_000)],
  }));
}
