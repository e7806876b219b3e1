// The Sys port over the real OS (libc through bun:ffi, /proc, Bun's timers and pipe reader).

import { MAX_TIMER_MS } from "../core/policy.ts";
import { EMFILE, ESRCH, osError } from "./libc.ts";
import { openNotifySocket } from "./notify.ts";
import { close, pipe } from "./pipe.ts";
import type {
  ChunkSink,
  SpawnRequest,
  SpawnResult,
  StdioTarget,
  Sys,
  TcpExchange,
  TcpResult,
} from "./port.ts";
import { childrenOf, listProcs, readProc } from "./proc.ts";
import { fdLimits, getpid, kill, killGroup } from "./process.ts";
import { startReaper } from "./reaper.ts";
import { spawn } from "./spawn.ts";
import { pump } from "./stream.ts";

/**
 * Fds kept free for everything but service pipes: the control socket's connections, HTTP,
 * config and /proc reads. A spawn that would eat into them fails with EMFILE instead, so zinit
 * itself never runs out and keeps answering.
 */
const FD_RESERVE = 256;

export function hostSys(): Sys {
  const self = getpid();
  return {
    now: () => performance.now(),
    wallClock: () => Date.now(),
    setTimer: (ms, fn) => setTimeout(fn, Math.max(0, Math.min(ms, MAX_TIMER_MS))),
    clearTimer: (id) => clearTimeout(id as Timer),
    // setTimeout, not setImmediate: Bun runs immediates before it polls I/O again, which would
    // starve the control socket while a long batch of work is being sliced.
    defer: (fn) => void setTimeout(fn, 0),
    spawn: spawnWithPipes,
    kill,
    killGroup,
    proc: readProc,
    children: childrenOf,
    allProcs: listProcs,
    groupExists: (pgid) => pgid > 0 && kill(-pgid, 0) !== ESRCH,
    self: () => self,
    reap: (handler) => startReaper(handler).error ?? null,
    tcpExchange,
    notifySocket: openNotifySocket,
  };
}

/** A probe reads at most this much of a reply. */
const MAX_REPLY = 64 * 1024;

function tcpExchange(req: TcpExchange): Promise<TcpResult> {
  return new Promise((resolve) => {
    const chunks: Uint8Array[] = [];
    let total = 0;
    let settled = false;
    let socket: { terminate(): void } | null = null;
    const reply = () => Buffer.concat(chunks, total);
    const finish = (result: TcpResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        socket?.terminate();
      } catch {
        // Already closed.
      }
      resolve(result);
    };
    const timer = setTimeout(
      () => finish({ ok: false, error: `no answer within ${req.timeoutMs} ms` }),
      Math.max(1, Math.min(req.timeoutMs, MAX_TIMER_MS)),
    );
    const failure = (err: unknown) => {
      const e = err as { code?: string; message?: string };
      finish({ ok: false, error: e?.code ?? e?.message ?? String(err) });
    };
    Bun.connect({
      // An IP literal needs no resolver thread; `localhost` is the one name taken as loopback.
      hostname: req.host === "localhost" ? "127.0.0.1" : req.host,
      port: req.port,
      socket: {
        open(s) {
          socket = s;
          if (req.request === null) return finish({ ok: true, reply: new Uint8Array(0) });
          s.write(req.request);
        },
        data(_s, data) {
          chunks.push(new Uint8Array(data));
          total += data.length;
          if (total > MAX_REPLY)
            return finish({ ok: false, error: `reply over ${MAX_REPLY} bytes` });
          const all = reply();
          if (req.enough(all)) finish({ ok: true, reply: all });
        },
        end: () => finish({ ok: true, reply: reply() }),
        close: () => finish({ ok: true, reply: reply() }),
        error: (_s, err) => failure(err),
        connectError: (_s, err) => failure(err),
      },
    }).catch(failure);
  });
}

/** The highest fd number a service pipe may use (see FD_RESERVE); read once. */
let fdCeiling: number | null = null;

function ceiling(): number {
  if (fdCeiling === null) {
    const lim = fdLimits();
    fdCeiling = lim ? Math.max(64, lim.soft - FD_RESERVE) : Number.MAX_SAFE_INTEGER;
  }
  return fdCeiling;
}

/** A pipe for one output of a child, refused once it would cut into the reserve. */
function servicePipe():
  | { ok: true; read: number; write: number }
  | { ok: false; error: string; errno: number } {
  const p = pipe();
  if (!p.ok) return p;
  // The kernel hands out the lowest free fd, so an fd this high means that many are in use.
  if (p.read >= ceiling() || p.write >= ceiling()) {
    close(p.read);
    close(p.write);
    return {
      ok: false,
      errno: EMFILE,
      error: `pipe2: ${osError(EMFILE)}: zinit keeps ${FD_RESERVE} fds for itself (RLIMIT_NOFILE ${ceiling() + FD_RESERVE})`,
    };
  }
  return p;
}

function spawnWithPipes(req: SpawnRequest): SpawnResult {
  const opened: { read: number; write: number; sink: ChunkSink }[] = [];
  const target = (
    t: StdioTarget,
  ): number | "null" | "inherit" | { error: string; errno: number } => {
    if (t === "null" || t === "inherit") return t;
    const p = servicePipe();
    if (!p.ok) return p;
    opened.push({ read: p.read, write: p.write, sink: t });
    return p.write;
  };
  const closeAll = (ends: "write" | "both") => {
    for (const p of opened) {
      close(p.write);
      if (ends === "both") close(p.read);
    }
  };
  const stdout = target(req.stdout);
  const stderr = typeof stdout === "object" ? stdout : target(req.stderr);
  let extra: number | { error: string; errno: number } | null = null;
  if (req.extraFd && typeof stderr !== "object") {
    const p = servicePipe();
    if (p.ok) {
      opened.push({ read: p.read, write: p.write, sink: req.extraFd.sink });
      extra = p.write;
    } else {
      extra = p;
    }
  }
  for (const r of [stdout, stderr, extra]) {
    if (r !== null && typeof r === "object") {
      closeAll("both");
      return { ok: false, errno: r.errno, error: r.error };
    }
  }
  const result = spawn({
    argv: req.argv,
    env: req.env,
    cwd: req.cwd,
    stdout: stdout as number | "null" | "inherit",
    stderr: stderr as number | "null" | "inherit",
    extraFds: req.extraFd && typeof extra === "number" ? [[req.extraFd.fd, extra]] : [],
  });
  // The child has its copies; ours must go, or EOF would never come.
  closeAll("write");
  if (!result.ok) {
    for (const p of opened) close(p.read);
    return result;
  }
  for (const p of opened) pump(p.read, p.sink);
  return result;
}
