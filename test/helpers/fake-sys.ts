// A Sys (src/sys/port.ts) with no OS behind it: a process table in memory, a clock and timers that
// move only when the test says so, and signals that end processes the way the test wants. The
// shell, the daemon and the method table run on it unchanged.

import type { ExitStatus } from "../../src/core/types.ts";
import type {
  ChunkSink,
  Datagram,
  Exit,
  ExitHandler,
  NotifySocket,
  ProcInfo,
  SpawnRequest,
  SpawnResult,
  StdioTarget,
  Sys,
  TcpExchange,
  TcpResult,
  TimerId,
} from "../../src/sys/port.ts";

/** What a fake process does with a signal: end (the default for most), or shrug it off. */
export type SignalReaction = "exit" | "ignore";

export interface FakeProc extends ProcInfo {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  stdout: StdioTarget;
  stderr: StdioTarget;
  extraFd?: { fd: number; sink: ChunkSink };
  /** Signals received, in order. */
  signals: number[];
  /** Per signal number; signals not listed end the process (except 0, SIGCHLD, SIGCONT, SIGWINCH). */
  reactions: Map<number, SignalReaction>;
  /** What /proc would say it uses (RSS bytes, CPU seconds); nothing when unset. */
  usage?: { rss: number; cpuSeconds: number };
}

const HARMLESS = new Set([0, 17, 18, 28]);
const SELF = 1;

export class FakeSys implements Sys {
  clock = 0;
  wall = 1_767_225_600_000; // 2026-01-01T00:00:00Z
  nextPid = 100;
  readonly procs = new Map<number, FakeProc>();
  /** How long each spawn takes on the fake clock (a real posix_spawn blocks for its exec). */
  spawnCostMs = 0;
  /** Every signal delivered, in order, as `argv[0]:signal`. */
  readonly signalLog: string[] = [];
  /** Every spawn asked for, including failed ones. */
  readonly spawns: SpawnRequest[] = [];
  /** Failures for the next spawns whose argv[0] matches (a string or a test). */
  readonly failures: Array<{ match: (argv: string[]) => boolean; errno: number; error: string }> =
    [];
  /** Answers to tcpExchange; the default refuses every connection. */
  tcp: (req: TcpExchange) => Promise<TcpResult> = async () => ({
    ok: false,
    error: "ECONNREFUSED",
  });
  /** Bound notify sockets: path → receiver. */
  readonly notifySockets = new Map<string, (d: Datagram) => void>();
  /**
   * What the next reading of the monotonic clock throws, once: every command of the daemon reads
   * the clock first, so this stands for any unexpected failure inside the daemon.
   */
  clockFault: unknown = null;
  private handler: ExitHandler | null = null;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private nextTimer = 1;
  private readonly deferred: Array<() => void> = [];
  private pendingExits: Exit[] = [];

  // ---- Sys --------------------------------------------------------------------------------------

  now(): number {
    const fault = this.clockFault;
    if (fault !== null) {
      this.clockFault = null;
      throw fault;
    }
    return this.clock;
  }

  wallClock(): number {
    return this.wall + this.clock;
  }

  setTimer(ms: number, fn: () => void): TimerId {
    const id = this.nextTimer++;
    this.timers.set(id, { at: this.clock + Math.max(0, ms), fn });
    return id;
  }

  clearTimer(id: TimerId): void {
    this.timers.delete(id as number);
  }

  defer(fn: () => void): void {
    this.deferred.push(fn);
  }

  spawn(req: SpawnRequest): SpawnResult {
    this.spawns.push(req);
    this.clock += this.spawnCostMs;
    const failure = this.failures.findIndex((f) => f.match(req.argv));
    if (failure >= 0) {
      const [f] = this.failures.splice(failure, 1);
      return { ok: false, errno: f?.errno ?? 2, error: f?.error ?? "failed" };
    }
    const pid = this.nextPid++;
    this.procs.set(pid, {
      pid,
      ppid: SELF,
      pgid: pid,
      sid: pid,
      state: "S",
      starttime: pid * 10,
      comm: (req.argv[0] ?? "").slice(0, 15),
      argv: req.argv,
      env: req.env,
      cwd: req.cwd,
      stdout: req.stdout,
      stderr: req.stderr,
      extraFd: req.extraFd,
      signals: [],
      reactions: new Map(),
    });
    return { ok: true, pid };
  }

  kill(pid: number, signal: number): number {
    const p = this.procs.get(pid);
    if (!p || p.state === "Z") return p ? 0 : 3;
    this.deliver(p, signal);
    return 0;
  }

  killGroup(pgid: number, signal: number): number {
    if (pgid <= 1) return 22;
    const members = [...this.procs.values()].filter((p) => p.pgid === pgid);
    if (members.length === 0) return 3;
    for (const p of members) if (p.state !== "Z") this.deliver(p, signal);
    return 0;
  }

  proc(pid: number): ProcInfo | null {
    const p = this.procs.get(pid);
    if (!p) return null;
    const { ppid, pgid, sid, state, starttime, comm } = p;
    return { pid, ppid, pgid, sid, state, starttime, comm };
  }

  children(pid: number): number[] | null {
    return [...this.procs.values()].filter((p) => p.ppid === pid).map((p) => p.pid);
  }

  allProcs(): ProcInfo[] {
    return [...this.procs.keys()].flatMap((pid) => this.proc(pid) ?? []);
  }

  groupExists(pgid: number): boolean {
    for (const p of this.procs.values()) if (p.pgid === pgid) return true;
    return false;
  }

  self(): number {
    return SELF;
  }

  reap(handler: ExitHandler): string | null {
    this.handler = handler;
    return null;
  }

  tcpExchange(req: TcpExchange): Promise<TcpResult> {
    return this.tcp(req);
  }

  notifySocket(path: string, receive: (d: Datagram) => void): NotifySocket {
    this.notifySockets.set(path, receive);
    return { ok: true, close: () => this.notifySockets.delete(path) };
  }

  // ---- what tests do ------------------------------------------------------------------------------

  /** The live process whose argv[0] is `program` (the newest if several). */
  find(program: string): FakeProc {
    const found = [...this.procs.values()].filter((p) => p.argv[0] === program && p.state !== "Z");
    const p = found.at(-1);
    if (!p) throw new Error(`no live process running ${program}`);
    return p;
  }

  /** A child of `parent` in its session and group, unless `setsid` moves it to its own. */
  fork(parent: number, opts: { setsid?: boolean; argv?: string[] } = {}): FakeProc {
    const from = this.procs.get(parent);
    if (!from) throw new Error(`no process ${parent}`);
    const pid = this.nextPid++;
    const child: FakeProc = {
      ...from,
      pid,
      ppid: parent,
      pgid: opts.setsid ? pid : from.pgid,
      sid: opts.setsid ? pid : from.sid,
      starttime: pid * 10,
      argv: opts.argv ?? from.argv,
      signals: [],
      reactions: new Map(),
    };
    this.procs.set(pid, child);
    return child;
  }

  /** The process ends now; its parent (or we, as its reaper) collect it at the next flush. */
  exit(pid: number, status: ExitStatus): void {
    const p = this.procs.get(pid);
    if (!p || p.state === "Z") throw new Error(`process ${pid} is not running`);
    p.state = "Z";
    // Orphans come to us, as they would to a subreaper or PID 1.
    for (const child of this.procs.values()) if (child.ppid === pid) child.ppid = SELF;
    if (p.ppid === SELF) {
      this.pendingExits.push({ pid, status, info: this.proc(pid) });
    } else {
      // Reaped by its own (fake) parent, which never tells us.
      this.procs.delete(pid);
    }
  }

  /** Bytes on a process's stdout or stderr. */
  write(pid: number, stream: "stdout" | "stderr", text: string): void {
    const p = this.procs.get(pid);
    const target = p?.[stream];
    if (target && typeof target === "object") target.push(new TextEncoder().encode(text));
  }

  /** A datagram sent by `pid` to the notify socket at `path`. */
  sendNotify(path: string, pid: number, text: string): void {
    const receive = this.notifySockets.get(path);
    if (!receive) throw new Error(`no notify socket at ${path}`);
    receive({ pid, text });
  }

  /** Bytes on the extra fd (readiness notification). */
  notifyFd(pid: number, text: string): void {
    this.procs.get(pid)?.extraFd?.sink.push(new TextEncoder().encode(text));
  }

  /**
   * Delivers what is pending: exits to the reaper, then deferred work, until nothing is left.
   * Resolves after promise callbacks (probe answers) have run too.
   */
  async flush(): Promise<void> {
    for (let round = 0; round < 1000; round++) {
      await Promise.resolve();
      await Bun.sleep(0);
      if (this.pendingExits.length > 0) {
        const exits = this.pendingExits;
        this.pendingExits = [];
        for (const e of exits) this.procs.delete(e.pid);
        this.handler?.(exits);
        continue;
      }
      const fn = this.deferred.shift();
      if (fn) {
        fn();
        continue;
      }
      return;
    }
    throw new Error("the fake system never settled");
  }

  /** Moves the clock, firing due timers in order, flushing after each. */
  async advance(ms: number): Promise<void> {
    const end = this.clock + ms;
    for (;;) {
      await this.flush();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.timers) if (!next || entry[1].at < next[1].at) next = entry;
      if (!next || next[1].at > end) break;
      this.timers.delete(next[0]);
      this.clock = Math.max(this.clock, next[1].at);
      next[1].fn();
    }
    this.clock = end;
    await this.flush();
  }

  /** The timers armed now, as delays from now. */
  pendingTimers(): number[] {
    return [...this.timers.values()].map((t) => t.at - this.clock).sort((a, b) => a - b);
  }

  private deliver(p: FakeProc, signal: number): void {
    p.signals.push(signal);
    this.signalLog.push(`${p.argv[0]}:${signal}`);
    const reaction = p.reactions.get(signal) ?? (HARMLESS.has(signal) ? "ignore" : "exit");
    if (signal === 9 || reaction === "exit")
      this.exit(p.pid, { kind: "signaled", signal, core: false });
  }
}
