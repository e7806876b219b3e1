// The control socket. One listener serves both protocols: a connection whose first
// non-whitespace byte is `{` or `[` is a persistent JSON-RPC session (reth-ipc framing, replies
// as compact JSON + `\n`); anything else is one legacy command line. Each connection's protocol
// state is one tagged value (sniffing → rpc | legacy → lingering → done); its output goes through
// an OutboundQueue, and while that is congested the connection's input is not read.

import { chmodSync, lstatSync, mkdirSync, readFileSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import type { Socket } from "bun";
import { concat } from "../bytes.ts";
import type { Control } from "./control.ts";
import {
  busyReply,
  FrameSplitter,
  oversizedReply,
  stalledFrameReply,
  tooManyConnections,
  unfinishedOverBudget,
} from "./framing.ts";
import { RpcSession } from "./jsonrpc.ts";
import { legacyError, runLegacyCommand } from "./legacy.ts";
import { type ApiLimits, Budget, DEFAULT_LIMITS } from "./limits.ts";
import type { MethodTable } from "./methods.ts";
import { OutboundQueue } from "./outbound.ts";

export interface SocketServer {
  close(): void;
  path: string;
}

interface UnixOptions {
  /** File mode of the socket; default 0o600 (root only), unlike upstream which left it to the umask. */
  mode?: number;
  /** Any subset; the rest are DEFAULT_LIMITS. */
  limits?: Partial<ApiLimits>;
  /** Shared with the daemon's other listeners so the cap on unfinished frames is global. */
  budget?: Budget;
  /** Open connections, shared the same way (with the WebSocket server). */
  connections?: Budget;
}

const strictDecoder = new TextDecoder("utf-8", { fatal: true });

const isSpace = (b: number) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;

/**
 * A JSON-RPC session. Frames are split from the input as they are dispatched, a bounded number
 * per turn of the event loop; input not split yet keeps the socket paused.
 */
interface RpcState {
  kind: "rpc";
  splitter: FrameSplitter;
  session: RpcSession;
  /** Requests dispatched and not yet answered. */
  inflight: number;
  /** The current turn: when it began and how many frames it dispatched. */
  turnStart: number;
  turnFrames: number;
  /** The turn was used up: the rest is dispatched from this timer. */
  resume: Timer | null;
  /**
   * No more input is taken (the peer half-closed, or its frame was refused): finish once every
   * request read so far has been answered.
   */
  eof: boolean;
}

/** One legacy command line being read (`line`), then run; a `log` follower keeps `stopFollow`. */
interface LegacyState {
  kind: "legacy";
  line: Uint8Array[];
  lineBytes: number;
  stopFollow: (() => void) | null;
}

type Protocol =
  | { kind: "sniffing"; sawWhitespace: boolean }
  | RpcState
  | LegacyState
  /** A rejected peer still sending: its input is discarded until it pauses or half-closes. */
  | {
      kind: "lingering";
      timer: Timer | null;
      deadline: number;
      discarded: number;
      then: () => void;
    }
  /** Replying, ending or closed: input is ignored (a `log` follower stays in "legacy"). */
  | { kind: "done" };

interface Conn {
  proto: Protocol;
  out: OutboundQueue;
  /** The output is congested: the socket is paused until it is not. */
  outputBlocked: boolean;
  /** Frames are waiting for dispatch: the socket is paused until they are taken. */
  inputBlocked: boolean;
  closed: boolean;
  /** An unfinished frame or line is held: when the peer last sent a byte, and the check timer. */
  lastInput: number;
  frameTimer: Timer | null;
  /** Listeners for the output queue emptying (a legacy `log` follower catching up). */
  onEmptied: (() => void) | null;
  /** It holds one of the `connections` slots (a connection refused at open does not). */
  slot: boolean;
}

/**
 * Frames one connection may have dispatched in one turn of the event loop, and for how long:
 * past either, it waits for the next turn (setTimeout, which Bun runs after polling I/O again,
 * unlike setImmediate), so a client sending a flood of tiny requests in one read cannot hold the
 * loop for everyone else.
 */
const FRAMES_PER_TURN = 64;
const TURN_MS = 2;

/** How long, and how much, a rejected peer may keep sending (discarded) before we close on it. */
const LINGER_IDLE_MS = 1000;
const LINGER_MAX_MS = 10_000;
const LINGER_MAX_BYTES = 1024 * 1024;

export async function serveUnix(
  path: string,
  table: MethodTable,
  control: Control,
  opts: UnixOptions = {},
): Promise<SocketServer> {
  const mode = opts.mode ?? 0o600;
  const limits: ApiLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const budget = opts.budget ?? new Budget(limits.maxUnfinished);
  const connections = opts.connections ?? new Budget(limits.maxConnections);
  // sun_path holds 108 bytes including the NUL; Bun's own error wouldn't say why.
  if (Buffer.byteLength(path) > 107) {
    throw new Error(`socket path is longer than 107 bytes: ${path}`);
  }
  await clearStale(path);
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });

  const conns = new Set<Socket<Conn>>();

  const write = (sock: Socket<Conn>, text: string) => sock.data.out.push(text);

  /** Reading stops while the output is congested or frames wait: the peer sees TCP back-pressure. */
  const updatePause = (sock: Socket<Conn>) => {
    const c = sock.data;
    if (c.closed) return;
    if (c.outputBlocked || c.inputBlocked) sock.pause();
    else sock.resume();
  };

  const end = (sock: Socket<Conn>) => {
    const c = sock.data;
    if (c.closed) return;
    // The protocol state stays: closeConn still has to release what it holds (subscriptions).
    c.out.end(() => sock.end());
  };

  const drop = (sock: Socket<Conn>) => {
    try {
      sock.terminate();
    } catch {}
    closeConn(sock);
  };

  const closeConn = (sock: Socket<Conn>) => {
    const c = sock.data;
    if (c.closed) return;
    c.closed = true;
    conns.delete(sock);
    if (c.slot) connections.release(1);
    c.out.close();
    stopFrameTimer(c);
    c.onEmptied = null;
    const p = c.proto;
    c.proto = { kind: "done" };
    switch (p.kind) {
      case "rpc":
        if (p.resume) clearTimeout(p.resume);
        p.splitter.dispose();
        p.session.close();
        return;
      case "legacy":
        budget.release(p.lineBytes);
        p.stopFollow?.();
        return;
      case "lingering":
        if (p.timer) clearTimeout(p.timer);
        return;
    }
  };

  // ---- unfinished frames: an idle timeout per connection -------------------------------------

  const holding = (c: Conn) =>
    (c.proto.kind === "rpc" && c.proto.splitter.holding) ||
    (c.proto.kind === "legacy" && c.proto.stopFollow === null && c.proto.lineBytes > 0);

  const stopFrameTimer = (c: Conn) => {
    if (c.frameTimer) clearTimeout(c.frameTimer);
    c.frameTimer = null;
  };

  /** After each read: (re)start the check while part of a frame is held, stop it otherwise. */
  const watchFrame = (sock: Socket<Conn>) => {
    const c = sock.data;
    if (!holding(c)) return stopFrameTimer(c);
    c.lastInput = performance.now();
    if (c.frameTimer) return;
    const check = () => {
      c.frameTimer = null;
      if (c.closed || !holding(c)) return;
      const idle = performance.now() - c.lastInput;
      if (idle < limits.frameTimeoutMs) {
        c.frameTimer = setTimeout(check, limits.frameTimeoutMs - idle);
        return;
      }
      const p = c.proto;
      if (p.kind === "rpc") {
        write(sock, `${stalledFrameReply(limits.frameTimeoutMs)}\n`);
        linger(sock, () => finishRpc(sock, p));
      } else {
        rejectLegacy(sock, "command line timed out");
      }
    };
    c.frameTimer = setTimeout(check, limits.frameTimeoutMs);
  };

  // ---- JSON-RPC ------------------------------------------------------------------------------

  const startRpc = (sock: Socket<Conn>) => {
    const c = sock.data;
    const state: RpcState = {
      kind: "rpc",
      splitter: new FrameSplitter(limits.maxFrame, budget),
      session: new RpcSession(table, (msg) => write(sock, `${msg}\n`), {
        subscriptions: true,
        congested: () => c.out.congested,
        batch: limits,
      }),
      inflight: 0,
      turnStart: 0,
      turnFrames: 0,
      resume: null,
      eof: false,
    };
    c.proto = state;
  };

  /**
   * Splits and dispatches frames while the output has room, fewer than maxInflight are open and
   * this turn's share is not used up; a frame over the limits is answered, and the rest of the
   * input discarded.
   */
  const pump = (sock: Socket<Conn>) => {
    const c = sock.data;
    const p = c.proto;
    if (p.kind !== "rpc" || c.closed || p.resume) return;
    let now = performance.now();
    if (now - p.turnStart >= TURN_MS) {
      p.turnStart = now;
      p.turnFrames = 0;
    }
    while (!c.out.congested && p.inflight < limits.maxInflight) {
      if (p.turnFrames >= FRAMES_PER_TURN || now - p.turnStart >= TURN_MS) {
        if (!p.splitter.pending) break;
        p.resume = setTimeout(() => {
          p.resume = null;
          p.turnStart = performance.now();
          p.turnFrames = 0;
          pump(sock);
        }, 0);
        break;
      }
      const frame = p.splitter.next();
      if (frame === null) break;
      p.turnFrames++;
      p.inflight++;
      p.session.handleText(frame).then(
        () => {
          p.inflight--;
          pump(sock);
        },
        () => drop(sock),
      );
      now = performance.now();
    }
    const overflow = p.splitter.overflow;
    if (overflow && !p.eof) {
      write(
        sock,
        `${overflow === "busy" ? busyReply(unfinishedOverBudget(budget.max)) : oversizedReply(limits.maxFrame)}\n`,
      );
      linger(sock, () => finishRpc(sock, p));
      return;
    }
    const blocked = p.splitter.pending;
    if (blocked !== c.inputBlocked) {
      c.inputBlocked = blocked;
      updatePause(sock);
    }
    if (!blocked && p.eof && p.inflight === 0) end(sock);
  };

  /** Answers what was read, then closes (reth-ipc drops pending replies: upstream #33). */
  const finishRpc = (sock: Socket<Conn>, p: RpcState) => {
    p.eof = true;
    sock.data.proto = p;
    pump(sock);
  };

  // Bun's end() closes both directions, and a peer still writing its oversized request would get
  // EPIPE and likely never read our error reply. So the rest of its input is read and discarded
  // until it pauses, half-closes, or the deadline passes.
  const linger = (sock: Socket<Conn>, then: () => void) => {
    const c = sock.data;
    if (c.proto.kind === "rpc") {
      c.proto.splitter.dispose();
      if (c.proto.resume) clearTimeout(c.proto.resume);
      c.proto.resume = null;
    }
    const state = {
      kind: "lingering" as const,
      timer: null as Timer | null,
      deadline: 0,
      discarded: 0,
      then,
    };
    state.deadline = performance.now() + LINGER_MAX_MS;
    c.proto = state;
    // Discarding needs reading, whatever the output queue says.
    c.inputBlocked = false;
    c.outputBlocked = false;
    sock.resume();
    onLingerInput(sock, false, 0);
  };

  const onLingerInput = (sock: Socket<Conn>, eof: boolean, bytes: number) => {
    const p = sock.data.proto;
    if (p.kind !== "lingering") return;
    p.discarded += bytes;
    if (p.timer) clearTimeout(p.timer);
    p.timer = null;
    const finish = () => {
      if (sock.data.proto !== p) return;
      if (p.timer) clearTimeout(p.timer);
      sock.data.proto = { kind: "done" };
      p.then();
    };
    // Reading a flood only to throw it away costs every other client: past a MiB, stop.
    if (eof || p.discarded > LINGER_MAX_BYTES) return finish();
    p.timer = setTimeout(
      finish,
      Math.max(0, Math.min(LINGER_IDLE_MS, p.deadline - performance.now())),
    );
  };

  // ---- legacy --------------------------------------------------------------------------------

  const rejectLegacy = (sock: Socket<Conn>, message: string) => {
    const c = sock.data;
    if (c.proto.kind === "legacy") {
      budget.release(c.proto.lineBytes);
      c.proto.line = [];
      c.proto.lineBytes = 0;
    }
    write(sock, legacyError(message));
    linger(sock, () => end(sock));
  };

  const runLine = (sock: Socket<Conn>, p: LegacyState) => {
    const c = sock.data;
    const bytes = concat(p.line, p.lineBytes);
    budget.release(p.lineBytes);
    p.line = [];
    p.lineBytes = 0;
    stopFrameTimer(c);
    c.proto = { kind: "done" };
    let line: string;
    try {
      line = strictDecoder.decode(bytes);
    } catch {
      // Upstream's read_line failed on invalid UTF-8: it wrote this raw text, then answered an
      // empty command.
      write(sock, `bad request${legacyError("unknown command")}`);
      return end(sock);
    }
    const out = {
      write: (text: string) => write(sock, text),
      end: () => end(sock),
      congested: () => c.out.congested,
      onEmptied: (listener: () => void) => {
        c.onEmptied = listener;
      },
    };
    runLegacyCommand(line, control, out).then(
      (stop) => {
        if (stop === null) return;
        if (c.closed) return stop();
        // A follower: the rest of its input (and its EOF) is ignored until it closes for good.
        c.proto = { kind: "legacy", line: [], lineBytes: 0, stopFollow: stop };
      },
      () => end(sock),
    );
  };

  const feedLegacy = (sock: Socket<Conn>, p: LegacyState, bytes: Uint8Array) => {
    if (p.stopFollow) return;
    const nl = bytes.indexOf(0x0a);
    const part = nl === -1 ? bytes : bytes.subarray(0, nl);
    if (p.lineBytes + part.length > limits.maxFrame) {
      return rejectLegacy(sock, "command line too long");
    }
    if (!budget.take(part.length)) return rejectLegacy(sock, "zinit is busy, try again later");
    // Copied: the chunk belongs to Bun's read path, and the line may span several reads.
    p.line.push(new Uint8Array(part));
    p.lineBytes += part.length;
    if (nl !== -1) runLine(sock, p);
  };

  // ---- events --------------------------------------------------------------------------------

  const onData = (sock: Socket<Conn>, data: Uint8Array) => {
    const c = sock.data;
    const p = c.proto;
    switch (p.kind) {
      case "lingering":
        return onLingerInput(sock, false, data.length);
      case "done":
        return;
      case "sniffing": {
        let i = 0;
        while (i < data.length && isSpace(data[i] as number)) {
          // A bare newline before any command is a legacy client sending an empty line.
          if (data[i] === 0x0a) {
            return runLine(sock, { kind: "legacy", line: [], lineBytes: 0, stopFollow: null });
          }
          i++;
        }
        if (i > 0) p.sawWhitespace = true;
        if (i === data.length) return;
        const first = data[i];
        if (first === 0x7b || first === 0x5b) startRpc(sock);
        else c.proto = { kind: "legacy", line: [], lineBytes: 0, stopFollow: null };
        return onData(sock, data.subarray(i));
      }
      case "rpc":
        // After an overflow or a timeout, what the peer still sends is not read as requests.
        if (p.eof) return;
        p.splitter.feed(data);
        pump(sock);
        // Whatever this turn did not split is copied: Bun reuses its read buffer.
        p.splitter.keep();
        return watchFrame(sock);
      case "legacy":
        feedLegacy(sock, p, data);
        return watchFrame(sock);
    }
  };

  const onEnd = (sock: Socket<Conn>) => {
    const c = sock.data;
    const p = c.proto;
    switch (p.kind) {
      case "lingering":
        return onLingerInput(sock, true, 0);
      case "sniffing":
        if (!p.sawWhitespace) return end(sock);
        return runLine(sock, { kind: "legacy", line: [], lineBytes: 0, stopFollow: null });
      case "legacy":
        // A log follower that half-closed keeps streaming until it closes for good; otherwise
        // read_line also returns at EOF: a last line without `\n` is still a command.
        if (p.stopFollow === null) runLine(sock, p);
        return;
      case "rpc":
        if (p.eof) return;
        p.splitter.finish();
        stopFrameTimer(c);
        return finishRpc(sock, p);
      case "done":
        return;
    }
  };

  const onOpen = (sock: Socket<Conn>) => {
    const c: Conn = {
      proto: { kind: "sniffing", sawWhitespace: false },
      outputBlocked: false,
      inputBlocked: false,
      closed: false,
      lastInput: 0,
      frameTimer: null,
      onEmptied: null,
      slot: false,
      out: new OutboundQueue({ kind: "stream", write: (bytes) => sock.write(bytes) }, limits, {
        congestion: (congested) => {
          c.outputBlocked = congested;
          updatePause(sock);
          if (!congested) pump(sock);
        },
        emptied: () => {
          if (c.proto.kind === "rpc") c.proto.session.outputEmptied();
          c.onEmptied?.();
        },
        // A peer that stopped reading (or lets replies pile up) must not grow our memory.
        overflow: () => drop(sock),
        gone: () => closeConn(sock),
      }),
    };
    sock.data = c;
    conns.add(sock);
    // Past the cap the peer hears why and its fd is given back at once (a unix socket still
    // delivers what was written before the close); it may not linger, or a flood of connections
    // would hold fds anyway.
    if (!connections.take(1)) {
      sock.write(`${busyReply(tooManyConnections(connections.max))}\n`);
      drop(sock);
      return;
    }
    c.slot = true;
  };

  const guard =
    <A extends unknown[]>(fn: (sock: Socket<Conn>, ...args: A) => void) =>
    (sock: Socket<Conn>, ...args: A) => {
      try {
        fn(sock, ...args);
      } catch {
        // PID 1 must survive any peer: drop this connection, never the daemon.
        drop(sock);
      }
    };

  const listenOptions = {
    unix: path,
    allowHalfOpen: true,
    socket: {
      open: guard(onOpen),
      data: guard(onData),
      // Bun's `drain`: the socket can take more bytes.
      drain: guard((sock: Socket<Conn>) => sock.data.out.writable()),
      end: guard(onEnd),
      close: guard(closeConn),
      error: guard(closeConn),
    },
  };

  // The socket must never exist with a wider mode, not even between bind and chmod.
  const oldMask = process.umask(0o177);
  let listener: ReturnType<typeof Bun.listen<Conn>>;
  try {
    listener = Bun.listen<Conn>(listenOptions);
  } finally {
    process.umask(oldMask);
  }
  chmodSync(path, mode);
  const ino = lstatSync(path).ino;

  return {
    path,
    close() {
      listener.stop(true);
      for (const sock of conns) drop(sock);
      // Only unlink our own socket; a successor may already have bound a new one here.
      try {
        if (lstatSync(path).ino === ino) unlinkSync(path);
      } catch {}
    },
  };
}

/** Removes a leftover socket file, unless a live server still answers on it. */
async function clearStale(path: string): Promise<void> {
  let owner: number;
  try {
    owner = lstatSync(path).uid;
  } catch {
    return;
  }
  const probe = await new Promise<"live" | "dead" | "forbidden">((resolve) => {
    Bun.connect({
      unix: path,
      socket: {
        open(sock) {
          sock.end();
          resolve("live");
        },
        data() {},
        connectError(_sock, err) {
          resolve((err as { code?: string }).code === "EACCES" ? "forbidden" : "dead");
        },
      },
    }).catch((err) => resolve((err as { code?: string }).code === "EACCES" ? "forbidden" : "dead"));
  });
  if (probe === "live") throw new Error(`another zinit is already listening on ${path}`);
  const self = process.getuid?.() ?? 0;
  if (owner !== self && (probe === "forbidden" || self !== 0)) {
    // Typically /tmp/zinit.sock of another user's daemon: unlinking it would fail (EPERM, sticky
    // /tmp) or, for root, break that user's daemon.
    throw new Error(
      `${path} belongs to ${userName(owner)}${probe === "forbidden" ? ", whose zinit may be running there" : ""}; ` +
        "choose another socket with -s PATH, $ZINIT_SOCKET or $XDG_RUNTIME_DIR",
    );
  }
  try {
    unlinkSync(path);
  } catch (err) {
    throw new Error(`cannot remove stale socket ${path}: ${(err as Error).message}`);
  }
}

/** `alice (uid 1000)`, from /etc/passwd when it has the uid. */
function userName(uid: number): string {
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const [name, , id] = line.split(":");
      if (id === String(uid) && name) return `user ${name} (uid ${uid})`;
    }
  } catch {}
  return `uid ${uid}`;
}
