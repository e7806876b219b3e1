// systemd-style readiness notification (sd_notify(3)): a unix datagram socket per service that
// zinit owns and names in the service's $NOTIFY_SOCKET. Bun has no unix datagram sockets, so the
// socket is made through libc, with SO_PASSCRED so every datagram carries its sender's pid
// (SCM_CREDENTIALS) for the shell to check against the service's processes.
//
// No polling: each socket is in O_ASYNC mode owned by us, so the kernel raises SIGIO when a
// datagram arrives, and one SIGIO handler drains every socket with non-blocking recvmsg until
// EAGAIN (signals coalesce; each wake-up drains all). The handler is installed before the first
// socket asks for SIGIO, whose default action would kill the process.
//
// The layouts below are LP64 Linux (x86_64 and aarch64, glibc and musl): struct msghdr is 56
// bytes with the iovec pointer at 16, its count at 24, the control buffer at 32, its length at
// 40, the flags at 48; a cmsghdr is {size_t len; int level; int type} (16 bytes, 8-aligned), and
// struct ucred is {pid, uid, gid}.

import { ptr } from "bun:ffi";
import { chmodSync, mkdirSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { EINTR, errno, F_GETFL, F_SETFL, libc, osError } from "./libc.ts";
import { close } from "./pipe.ts";
import type { Datagram, NotifySocket } from "./port.ts";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_PASSCRED = 16;
const SCM_RIGHTS = 1;
const SCM_CREDENTIALS = 2;
const MSG_DONTWAIT = 0x40;
const MSG_TRUNC = 0x20;
const MSG_CTRUNC = 0x8;
const MSG_CMSG_CLOEXEC = 0x40000000;
const F_SETOWN = 8;
const O_ASYNC = 0o20000;

/** systemd's limit for one notification; longer datagrams are dropped. */
const MAX_NOTIFY_BYTES = 4096;

type Receiver = (d: Datagram) => void;

const receivers = new Map<number, Receiver>();
let handlerInstalled = false;

const data = Buffer.alloc(MAX_NOTIFY_BYTES + 1);
const control = Buffer.alloc(256);
const iov = Buffer.alloc(16);
const msg = Buffer.alloc(56);
/** The fds that came with the datagram being handled, closed once it has been. */
const passedFds: number[] = [];

/**
 * Hands every datagram waiting on any notify socket to its receiver. The reaper calls it before
 * it reaps: what a process sent before it exited (READY=1, MAINPID= from a parent that then
 * exits) is then handled before its exit, whichever signal the runtime delivers first, and
 * while its sender's /proc entry is still there for the ownership check.
 */
export function drainNotifySockets(): void {
  for (const [fd, receive] of receivers) {
    for (let d = receiveOne(fd); d !== null; d = receiveOne(fd)) {
      try {
        if (d !== "skip") receive(d);
      } catch {
        // The shell reports its own failures; one bad datagram must not stop the others.
      } finally {
        // systemd-notify's BARRIER=1 sends a pipe and exits once it is closed: closed after
        // the datagram was handled, its sender is still there to be checked. FDSTORE is not
        // supported; either way the fds must not stay open here.
        for (const passed of passedFds.splice(0)) close(passed);
      }
    }
  }
}

/** One datagram, "skip" for one that is unusable (truncated), null when none is left. */
function receiveOne(fd: number): Datagram | "skip" | null {
  for (;;) {
    iov.writeBigUInt64LE(BigInt(ptr(data)), 0);
    iov.writeBigUInt64LE(BigInt(data.length), 8);
    msg.fill(0);
    control.fill(0);
    msg.writeBigUInt64LE(BigInt(ptr(iov)), 16);
    msg.writeBigUInt64LE(1n, 24);
    msg.writeBigUInt64LE(BigInt(ptr(control)), 32);
    msg.writeBigUInt64LE(BigInt(control.length), 40);
    const n = Number(libc.recvmsg(fd, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
    if (n < 0) {
      const e = errno();
      if (e === EINTR) continue;
      // EAGAIN: drained. Anything else (EBADF after a close) ends this socket's turn too.
      return null;
    }
    let pid = 0;
    const controllen = Number(msg.readBigUInt64LE(40));
    for (let off = 0; off + 16 <= controllen; ) {
      const len = Number(control.readBigUInt64LE(off));
      if (len < 16 || off + len > controllen) break;
      const level = control.readInt32LE(off + 8);
      const type = control.readInt32LE(off + 12);
      if (level === SOL_SOCKET && type === SCM_CREDENTIALS && len >= 28) {
        pid = control.readInt32LE(off + 16);
      } else if (level === SOL_SOCKET && type === SCM_RIGHTS) {
        for (let i = off + 16; i + 4 <= off + len; i += 4) passedFds.push(control.readInt32LE(i));
      }
      off += (len + 7) & ~7;
    }
    const flags = msg.readInt32LE(48);
    if ((flags & (MSG_TRUNC | MSG_CTRUNC)) !== 0 || n > MAX_NOTIFY_BYTES) return "skip";
    return { pid, text: data.toString("utf8", 0, n) };
  }
}

export type { NotifySocket } from "./port.ts";

/**
 * Binds a notify socket at `path` (mode 0600, its directory 0700 if it has to be made; a stale
 * file there is replaced).
 */
export function openNotifySocket(path: string, receive: Receiver): NotifySocket {
  const name = Buffer.from(path, "utf8");
  if (name.length > 107 || name.includes(0)) {
    return { ok: false, error: `notify socket path is longer than 107 bytes: ${path}` };
  }
  const sa = Buffer.alloc(110);
  sa.writeUInt16LE(AF_UNIX, 0);
  name.copy(sa, 2);
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  } catch (err) {
    return { ok: false, error: `cannot create ${dirname(path)}: ${(err as Error).message}` };
  }
  const fd = libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return { ok: false, error: `socket(AF_UNIX, SOCK_DGRAM): ${osError(errno())}` };
  const fail = (what: string, n: number): NotifySocket => {
    close(fd);
    return { ok: false, error: `${what}: ${osError(n)}` };
  };
  try {
    unlinkSync(path);
  } catch {
    // Nothing stale there.
  }
  // Created 0600 from the start: the umask is narrowed around bind.
  const mask = process.umask(0o177);
  const bound = libc.bind(fd, sa, 2 + name.length + 1);
  const bindErrno = bound === 0 ? 0 : errno();
  process.umask(mask);
  if (bound !== 0) return fail(`bind ${path}`, bindErrno);
  try {
    chmodSync(path, 0o600);
  } catch {
    // bind made it with 0600 already.
  }
  if (libc.setsockopt(fd, SOL_SOCKET, SO_PASSCRED, new Int32Array([1]), 4) !== 0) {
    return fail("setsockopt(SO_PASSCRED)", errno());
  }
  if (!handlerInstalled) {
    // Before any socket asks for SIGIO: its default action would end the process.
    process.on("SIGIO", drainNotifySockets);
    handlerInstalled = true;
  }
  receivers.set(fd, receive);
  const flags = libc.fcntl(fd, F_GETFL, 0);
  if (
    libc.fcntl(fd, F_SETOWN, libc.getpid()) !== 0 ||
    flags < 0 ||
    libc.fcntl(fd, F_SETFL, flags | O_ASYNC) !== 0
  ) {
    receivers.delete(fd);
    return fail("fcntl(O_ASYNC)", errno());
  }
  // Datagrams that arrived before O_ASYNC raised nothing.
  drainNotifySockets();
  return {
    ok: true,
    close() {
      if (!receivers.delete(fd)) return;
      close(fd);
      try {
        unlinkSync(path);
      } catch {
        // Already gone.
      }
    },
  };
}
