// The control socket. One listener serves both protocols: a connection whose first
// non-whitespace byte is `{` or `[` is a persistent JSON-RPC session (reth-ipc framing, replies
// as compact JSON + `\n`); anything else is one legacy command line. Bun's socket.write is
// unbuffered and may write partially, so every connection keeps its own bounded outbound queue.

import { chmodSync, lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import type { Socket } from "bun";
import type { Control } from "./control.ts";
import { DEFAULT_MAX_FRAME, FrameSplitter, oversizedReply } from "./framing.ts";
import { RpcSession } from "./jsonrpc.ts";
import { legacyError, runLegacyCommand } from "./legacy.ts";
import type { MethodTable } from "./methods.ts";

export interface SocketServer {
  close(): void;
  path: string;
}

export interface UnixOptions {
  /** File mode of the socket; default 0o600 (root only), unlike upstream which left it to the umask. */
  mode?: number;
  /** Largest accepted request frame or legacy line, in bytes. */
  maxFrame?: number;
  /**
   * A peer whose unread replies exceed this many bytes is disconnected. Log followers never get
   * there: past a quarter of it, their lines are dropped and counted instead.
   */
  maxQueued?: number;
}

export const DEFAULT_MAX_QUEUED = 16 * 1024 * 1024;

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

const isSpace = (b: number) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;

interface Conn {
  mode: "sniff" | "rpc" | "legacy" | "done";
  /** Unsent bytes; entries before `head` are already written (a deque without O(n) shift). */
  queue: Uint8Array[];
  head: number;
  queued: number;
  /** Text written during this turn of the event loop, sent as one write at its end. */
  pending: string[];
  pendingChars: number;
  /** end() was asked for: close as soon as the queue is empty. */
  ending: boolean;
  closed: boolean;
  sawWhitespace: boolean;
  splitter: FrameSplitter | null;
  session: RpcSession | null;
  line: Uint8Array[];
  lineBytes: number;
  stopFollow: (() => void) | null;
  /** Called when the output queue has fully drained (a legacy `log` follower catching up). */
  onDrain: (() => void) | null;
  linger: Timer | null;
  /** Set while lingering: told about discarded input and about the peer's EOF. */
  onInput: ((eof: boolean) => void) | null;
}

/** How long a rejected peer may keep sending (discarded) before we close on it. */
const LINGER_IDLE_MS = 1000;
const LINGER_MAX_MS = 10_000;

export async function serveUnix(
  path: string,
  table: MethodTable,
  control: Control,
  opts: UnixOptions = {},
): Promise<SocketServer> {
  const mode = opts.mode ?? 0o600;
  const maxFrame = opts.maxFrame ?? DEFAULT_MAX_FRAME;
  const maxQueued = opts.maxQueued ?? DEFAULT_MAX_QUEUED;
  // sun_path holds 108 bytes including the NUL; Bun's own error wouldn't say why.
  if (Buffer.byteLength(path) > 107) {
    throw new Error(`socket path is longer than 107 bytes: ${path}`);
  }
  await clearStale(path);
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });

  const conns = new Set<Socket<Conn>>();

  // Replies and log lines written in one turn go out in one write: a follower of a service
  // printing 2 M lines must not cost 2 M syscalls.
  const write = (sock: Socket<Conn>, text: string) => {
    const c = sock.data;
    if (c.closed || c.ending) return;
    c.pending.push(text);
    c.pendingChars += text.length;
    if (c.pending.length === 1) queueMicrotask(() => sendPending(sock));
  };

  const sendPending = (sock: Socket<Conn>) => {
    const c = sock.data;
    if (c.closed || c.pending.length === 0) return;
    const bytes = encoder.encode(
      c.pending.length === 1 ? (c.pending[0] as string) : c.pending.join(""),
    );
    c.pending = [];
    c.pendingChars = 0;
    if (c.head === c.queue.length) {
      const n = sock.write(bytes);
      if (n < 0) return closeConn(sock);
      if (n === bytes.length) return;
      c.queue.push(bytes.subarray(n));
      c.queued += bytes.length - n;
    } else {
      c.queue.push(bytes);
      c.queued += bytes.length;
    }
    if (c.queued > maxQueued) {
      // A peer that stopped reading (typically a log follower) must not grow our memory.
      sock.terminate();
      closeConn(sock);
    }
  };

  const congested = (c: Conn) => c.queued + c.pendingChars > maxQueued / 4;

  const flush = (sock: Socket<Conn>) => {
    const c = sock.data;
    while (c.head < c.queue.length) {
      // Small replies and log lines are coalesced so a drain costs few syscalls.
      const batch = takeBatch(c);
      const n = sock.write(batch);
      if (n < 0) return closeConn(sock);
      consume(c, n);
      if (n < batch.length) return;
    }
    c.queue = [];
    c.head = 0;
    if (c.ending) {
      sock.end();
      return;
    }
    c.session?.drained();
    c.onDrain?.();
  };

  const end = (sock: Socket<Conn>) => {
    const c = sock.data;
    if (c.closed || c.ending) return;
    sendPending(sock);
    if (c.closed) return;
    c.mode = "done";
    c.ending = true;
    if (c.head === c.queue.length) sock.end();
  };

  const closeConn = (sock: Socket<Conn>) => {
    const c = sock.data;
    if (c.closed) return;
    c.closed = true;
    c.mode = "done";
    c.queue = [];
    c.head = 0;
    c.queued = 0;
    c.pending = [];
    c.pendingChars = 0;
    conns.delete(sock);
    if (c.linger) clearTimeout(c.linger);
    c.session?.close();
    c.stopFollow?.();
    c.stopFollow = null;
    c.onDrain = null;
  };

  const startRpc = (sock: Socket<Conn>) => {
    const c = sock.data;
    c.mode = "rpc";
    c.splitter = new FrameSplitter(maxFrame);
    c.session = new RpcSession(table, (msg) => write(sock, `${msg}\n`), {
      subscriptions: true,
      congested: () => congested(c),
    });
  };

  const feedRpc = (sock: Socket<Conn>, frames: string[]) => {
    const c = sock.data;
    const session = c.session as RpcSession;
    for (const frame of frames) {
      session.handleText(frame).catch(() => sock.terminate());
    }
    if (c.splitter?.overflowed) {
      write(sock, `${oversizedReply(maxFrame)}\n`);
      linger(sock, () => void finishRpc(sock));
    }
  };

  // Bun's end() closes both directions, and a peer still writing its oversized request would get
  // EPIPE and likely never read our error reply. So the rest of its input is read and discarded
  // until it pauses, half-closes, or the deadline passes.
  const linger = (sock: Socket<Conn>, done: () => void) => {
    const c = sock.data;
    c.mode = "done";
    const deadline = Date.now() + LINGER_MAX_MS;
    const finish = () => {
      if (c.linger) clearTimeout(c.linger);
      c.linger = null;
      c.onInput = null;
      done();
    };
    c.onInput = (eof) => {
      if (c.linger) clearTimeout(c.linger);
      if (eof) return finish();
      c.linger = setTimeout(finish, Math.max(0, Math.min(LINGER_IDLE_MS, deadline - Date.now())));
    };
    c.onInput(false);
  };

  // Replies still in flight are delivered before the close (reth-ipc drops them: upstream #33).
  const finishRpc = async (sock: Socket<Conn>) => {
    try {
      await sock.data.session?.pending();
    } catch {
      // The session reports its own failures as replies; nothing left to deliver here.
    }
    end(sock);
  };

  const runLine = (sock: Socket<Conn>) => {
    const c = sock.data;
    c.mode = "done";
    const bytes = concat(c.line, c.lineBytes);
    c.line = [];
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
      congested: () => congested(c),
      onDrain: (listener: () => void) => {
        c.onDrain = listener;
      },
    };
    runLegacyCommand(line, control, out).then(
      (stop) => {
        if (stop === null) return;
        if (c.closed) stop();
        else c.stopFollow = stop;
      },
      () => end(sock),
    );
  };

  const feedLegacy = (sock: Socket<Conn>, bytes: Uint8Array) => {
    const c = sock.data;
    const nl = bytes.indexOf(0x0a);
    const part = nl === -1 ? bytes : bytes.subarray(0, nl);
    // Copied: the chunk belongs to Bun's read path, and the line may span several reads.
    c.line.push(new Uint8Array(part));
    c.lineBytes += part.length;
    if (c.lineBytes > maxFrame) {
      c.line = [];
      write(sock, legacyError("command line too long"));
      return linger(sock, () => end(sock));
    }
    if (nl !== -1) runLine(sock);
  };

  const onData = (sock: Socket<Conn>, data: Uint8Array) => {
    const c = sock.data;
    if (c.onInput) return c.onInput(false);
    if (c.mode === "sniff") {
      let i = 0;
      while (i < data.length && isSpace(data[i] as number)) {
        // A bare newline before any command is a legacy client sending an empty line.
        if (data[i] === 0x0a) {
          c.mode = "legacy";
          return runLine(sock);
        }
        i++;
      }
      if (i > 0) c.sawWhitespace = true;
      if (i === data.length) return;
      const first = data[i];
      if (first === 0x7b || first === 0x5b) startRpc(sock);
      else c.mode = "legacy";
      data = data.subarray(i);
    }
    if (c.mode === "rpc") feedRpc(sock, (c.splitter as FrameSplitter).push(data));
    else if (c.mode === "legacy") feedLegacy(sock, data);
  };

  const onEnd = (sock: Socket<Conn>) => {
    const c = sock.data;
    if (c.onInput) return c.onInput(true);
    switch (c.mode) {
      case "sniff":
        if (!c.sawWhitespace) return end(sock);
        c.mode = "legacy";
        return runLine(sock);
      case "legacy":
        // read_line also returns at EOF: a last line without `\n` is still a command.
        return runLine(sock);
      case "rpc":
        feedRpc(sock, (c.splitter as FrameSplitter).end());
        c.mode = "done";
        void finishRpc(sock);
        return;
      case "done":
        // A log follower that half-closed keeps streaming until it closes for good.
        return;
    }
  };

  const guard =
    <A extends unknown[]>(fn: (sock: Socket<Conn>, ...args: A) => void) =>
    (sock: Socket<Conn>, ...args: A) => {
      try {
        fn(sock, ...args);
      } catch {
        // PID 1 must survive any peer: drop this connection, never the daemon.
        try {
          sock.terminate();
        } catch {}
        closeConn(sock);
      }
    };

  const listenOptions = {
    unix: path,
    allowHalfOpen: true,
    socket: {
      open: guard((sock: Socket<Conn>) => {
        sock.data = {
          mode: "sniff",
          queue: [],
          head: 0,
          queued: 0,
          pending: [],
          pendingChars: 0,
          ending: false,
          closed: false,
          sawWhitespace: false,
          splitter: null,
          session: null,
          line: [],
          lineBytes: 0,
          stopFollow: null,
          onDrain: null,
          linger: null,
          onInput: null,
        };
        conns.add(sock);
      }),
      data: guard(onData),
      drain: guard(flush),
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
      for (const sock of conns) {
        try {
          sock.terminate();
        } catch {}
        closeConn(sock);
      }
      // Only unlink our own socket; a successor may already have bound a new one here.
      try {
        if (lstatSync(path).ino === ino) unlinkSync(path);
      } catch {}
    },
  };
}

const BATCH_BYTES = 64 * 1024;

function takeBatch(c: Conn): Uint8Array {
  const first = c.queue[c.head] as Uint8Array;
  if (first.length >= BATCH_BYTES || c.head + 1 === c.queue.length) return first;
  let end = c.head;
  let total = 0;
  while (end < c.queue.length && total + (c.queue[end] as Uint8Array).length <= BATCH_BYTES) {
    total += (c.queue[end] as Uint8Array).length;
    end++;
  }
  return concat(c.queue.slice(c.head, end), total);
}

/** Drops the first `n` queued bytes, which the kernel accepted. */
function consume(c: Conn, n: number): void {
  c.queued -= n;
  while (n > 0) {
    const chunk = c.queue[c.head] as Uint8Array;
    if (chunk.length > n) {
      c.queue[c.head] = chunk.subarray(n);
      return;
    }
    n -= chunk.length;
    c.head++;
  }
  if (c.head > 1024 && c.head * 2 > c.queue.length) {
    c.queue = c.queue.slice(c.head);
    c.head = 0;
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Removes a leftover socket file, unless a live server still answers on it. */
async function clearStale(path: string): Promise<void> {
  try {
    lstatSync(path);
  } catch {
    return;
  }
  const live = await new Promise<boolean>((resolve) => {
    Bun.connect({
      unix: path,
      socket: {
        open(sock) {
          sock.end();
          resolve(true);
        },
        data() {},
        connectError() {
          resolve(false);
        },
      },
    }).catch(() => resolve(false));
  });
  if (live) throw new Error(`another zinit is already listening on ${path}`);
  try {
    unlinkSync(path);
  } catch (err) {
    throw new Error(`cannot remove stale socket ${path}: ${(err as Error).message}`);
  }
}
