// The port through which the shell does everything that touches the OS: clocks and timers,
// spawning, signals, reading the process table, and reaping. `hostSys()` (host.ts) implements it
// over libc; the tests hand the shell a fake (test/helpers/fake-sys.ts) and run the daemon, the
// method table and the shell with no process at all.

import type { ExitStatus } from "../core/types.ts";

/** One process as /proc/<pid>/stat shows it. */
export interface ProcInfo {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  /** R, S, D, Z, T… */
  state: string;
  /** Clock ticks since boot: with the pid, it identifies a process across pid reuse. */
  starttime: number;
  comm: string;
}

/** Receives the bytes read from one pipe; `end` once, at EOF or on a read error. Never throws out. */
export interface ChunkSink {
  push(bytes: Uint8Array): void;
  end(): void;
}

export type StdioTarget = ChunkSink | "null" | "inherit";

export interface SpawnRequest {
  /** argv[0] without "/" is looked up in the child's PATH; with "/" it is relative to `cwd`. */
  argv: string[];
  /** The child's exact environment. */
  env: Record<string, string>;
  /** Absolute working directory. */
  cwd: string;
  stdout: StdioTarget;
  stderr: StdioTarget;
  /** A pipe whose write end the child gets as fd `fd` (readiness notification, s6 style). */
  extraFd?: { fd: number; sink: ChunkSink };
}

export type SpawnResult = { ok: true; pid: number } | { ok: false; errno: number; error: string };

/** A reaped child: how it ended, and its /proc entry read just before it was reaped (or null). */
export interface Exit {
  pid: number;
  status: ExitStatus;
  info: ProcInfo | null;
}

export type ExitHandler = (exits: Exit[]) => void;

export type TimerId = unknown;

export interface Sys {
  /** Monotonic milliseconds, for every decision of the core. */
  now(): number;
  /** Milliseconds since the epoch, for what people read (log timestamps). */
  wallClock(): number;
  setTimer(ms: number, fn: () => void): TimerId;
  clearTimer(id: TimerId): void;
  /** Runs `fn` soon, after pending I/O: how a long batch of work yields to the event loop. */
  defer(fn: () => void): void;

  /** Starts a process in its own session (pgid = sid = pid). Never throws. */
  spawn(req: SpawnRequest): SpawnResult;
  /** kill(2): 0 or the errno. */
  kill(pid: number, signal: number): number;
  /** Signals a process group; groups 0 and 1 and our own are refused (EINVAL). 0 or the errno. */
  killGroup(pgid: number, signal: number): number;

  /** One process, or null if it is gone (zombies are still there). */
  proc(pid: number): ProcInfo | null;
  /** The pids of a process's children, or null when the kernel cannot tell (no /proc). */
  children(pid: number): number[] | null;
  /** Every process, read now (a full /proc scan: costly with many processes). */
  allProcs(): ProcInfo[];
  /** Whether any process (zombies included) is in process group `pgid`. */
  groupExists(pgid: number): boolean;
  /** Our own pid. */
  self(): number;

  /**
   * Starts reaping: every child (and every orphan reparented to us) goes to `handler`, each wake-up
   * delivering all the children that had exited by then, in one batch. Returns why reaping has to
   * scan every child per exit here (no native SIGCHLD hook), or null.
   */
  reap(handler: ExitHandler): string | null;

  /**
   * Connects over TCP, sends `request` (if any) and reads until `enough(reply so far)` or EOF.
   * Always settles within `timeoutMs`. `host` is an IP address or `localhost`.
   */
  tcpExchange(req: TcpExchange): Promise<TcpResult>;

  /** A unix datagram socket at `path` (mode 0600) for sd_notify; each datagram goes to `receive`. */
  notifySocket(path: string, receive: (d: Datagram) => void): NotifySocket;
}

/** One sd_notify datagram. */
export interface Datagram {
  /** The sender's pid as the kernel saw it; 0 when it is outside our PID namespace. */
  pid: number;
  text: string;
}

export type NotifySocket = { ok: true; close(): void } | { ok: false; error: string };

export interface TcpExchange {
  host: string;
  port: number;
  request: Uint8Array | null;
  timeoutMs: number;
  /** Whether the bytes received so far are all that is needed (e.g. an HTTP status line). */
  enough: (reply: Uint8Array) => boolean;
}

export type TcpResult = { ok: true; reply: Uint8Array } | { ok: false; error: string };
