// Native signal handlers, compiled at start-up with bun:ffi's TinyCC, for the two signals the Bun
// runtime cannot give us properly:
//
// - SIGPWR, LXC's default halt signal: JSC installs its own SA_SIGINFO handler for SIGPWR to
//   suspend threads for GC, so `process.on("SIGPWR")` never fires and an outside SIGPWR is
//   swallowed. Our handler goes in front of JSC's: JSC's own thread-directed SIGPWRs (SI_TKILL
//   from our pid) are chained to its handler unchanged; any other SIGPWR writes a byte to a pipe
//   that the event loop reads.
// - SIGCHLD with the pid of the child that changed (siginfo's si_pid), written to another pipe.
//   Bun's `process.on("SIGCHLD")` gives no siginfo, and without the pid the only way to find an
//   exited child is waitid(P_ALL), which the kernel answers by walking every child we have: with
//   thousands of services that walk, twice per exit, made a shutdown quadratic. With the pid, the
//   child is reaped with waitid(P_PID) in constant time.
//
// The C gets `sigaction`, `write` and `__errno_location` as pointers (src/sys/tcc.ts). The
// layouts are the same for glibc and musl on x86_64 and aarch64: `struct sigaction` is handler,
// sa_mask (128 bytes), int sa_flags, sa_restorer; `siginfo_t` has si_code at offset 8 and si_pid
// at 16.

import { FFIType, type Library } from "bun:ffi";
import { errno, F_GETFL, F_SETFL, libc, O_NONBLOCK, osError } from "./libc.ts";
import { close, pipe } from "./pipe.ts";
import type { ChunkSink } from "./port.ts";
import { pump } from "./stream.ts";
import { compileC, libcPointers } from "./tcc.ts";

const SOURCE = `
struct zsa { void *handler; unsigned long mask[16]; int flags; void *restorer; };
typedef int (*sigaction_fn)(int, const struct zsa *, struct zsa *);
typedef long (*write_fn)(int, const void *, unsigned long);
typedef int *(*errno_fn)(void);

#define ZSIGPWR 30
#define ZSIGCHLD 17
#define ZSA_NOCLDSTOP 1
#define ZSA_SIGINFO 4
#define ZSA_RESTART 0x10000000
#define ZSI_TKILL (-6)

static sigaction_fn z_sigaction;
static write_fn z_write;
static errno_fn z_errno;
static int z_pid;
static int z_pwr_fd = -1;
static struct zsa z_pwr_previous;
static int z_chld_fd = -1;
static struct zsa z_chld_previous;

static void z_pwr_handler(int sig, void *info, void *context) {
  int code = *(int *)((char *)info + 8);
  int pid = *(int *)((char *)info + 16);
  if (code == ZSI_TKILL && pid == z_pid) {
    void *h = z_pwr_previous.handler;
    if (z_pwr_previous.flags & ZSA_SIGINFO) {
      if (h) ((void (*)(int, void *, void *))h)(sig, info, context);
    } else if (h != (void *)0 && h != (void *)1) {
      ((void (*)(int))h)(sig);
    }
    return;
  }
  int *e = z_errno();
  int saved = *e;
  char byte = 1;
  z_write(z_pwr_fd, &byte, 1);
  *e = saved;
}

static void z_chld_handler(int sig, void *info, void *context) {
  int *e = z_errno();
  int saved = *e;
  int pid = *(int *)((char *)info + 16);
  /* Four bytes are written whole or not at all; a full pipe drops the pid (see the reaper). */
  z_write(z_chld_fd, &pid, 4);
  *e = saved;
}

int zinit_native_init(void *sa, void *wr, void *er, int pid) {
  z_sigaction = (sigaction_fn)sa;
  z_write = (write_fn)wr;
  z_errno = (errno_fn)er;
  z_pid = pid;
  return 0;
}

int zinit_sigpwr_install(int fd) {
  z_pwr_fd = fd;
  /* Read JSC's action before installing ours: our handler must never run without it. */
  if (z_sigaction(ZSIGPWR, 0, &z_pwr_previous) != 0) return -1;
  struct zsa act = z_pwr_previous;
  act.handler = (void *)z_pwr_handler;
  act.flags = z_pwr_previous.flags | ZSA_SIGINFO;
  if (z_sigaction(ZSIGPWR, &act, 0) != 0) return -2;
  return 0;
}

int zinit_sigchld_install(int fd) {
  z_chld_fd = fd;
  if (z_sigaction(ZSIGCHLD, 0, &z_chld_previous) != 0) return -1;
  struct zsa act = z_chld_previous;
  int i;
  for (i = 0; i < 16; i++) act.mask[i] = 0;
  act.handler = (void *)z_chld_handler;
  act.flags = ZSA_SIGINFO | ZSA_RESTART | ZSA_NOCLDSTOP;
  if (z_sigaction(ZSIGCHLD, &act, 0) != 0) return -2;
  return 0;
}

int zinit_sigchld_uninstall(void) {
  if (z_sigaction(ZSIGCHLD, &z_chld_previous, 0) != 0) return -1;
  z_chld_fd = -1;
  return 0;
}
`;

const NATIVE_SYMBOLS = {
  zinit_native_init: {
    args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.i32],
    returns: FFIType.i32,
  },
  zinit_sigpwr_install: { args: [FFIType.i32], returns: FFIType.i32 },
  zinit_sigchld_install: { args: [FFIType.i32], returns: FFIType.i32 },
  zinit_sigchld_uninstall: { args: [], returns: FFIType.i32 },
} as const;

type NativeLibrary = Library<typeof NATIVE_SYMBOLS>;

/** The compiled handlers; referenced for the life of the process so their code stays mapped. */
let native: NativeLibrary | string | null = null;
let sigpwrInstalled = false;
let sigchld: { read: number; write: number } | null = null;

/** The compiled library, made once; or why it cannot be made here. */
function library(): NativeLibrary | string {
  if (native !== null) return native;
  const pointers = libcPointers(["sigaction", "write", "__errno_location"]);
  if (typeof pointers === "string") {
    native = pointers;
    return native;
  }
  const lib = compileC("the signal handlers", "signals.c", SOURCE, NATIVE_SYMBOLS);
  if (typeof lib !== "string") {
    lib.symbols.zinit_native_init(
      pointers.sigaction,
      pointers.write,
      pointers.__errno_location,
      libc.getpid(),
    );
  }
  native = lib;
  return native;
}

/** A pipe whose write end never blocks a signal handler: a full pipe drops, never waits. */
function signalPipe(): { ok: true; read: number; write: number } | { ok: false; error: string } {
  const fds = pipe();
  if (!fds.ok) return fds;
  const flags = libc.fcntl(fds.write, F_GETFL, 0);
  if (flags < 0 || libc.fcntl(fds.write, F_SETFL, flags | O_NONBLOCK) !== 0) {
    const error = `fcntl(O_NONBLOCK): ${osError(errno())}`;
    close(fds.read);
    close(fds.write);
    return { ok: false, error };
  }
  return fds;
}

/**
 * A signal pipe whose write end `install` hands to the C handler of `signal` (0 or -1 with errno,
 * as sigaction); the pipe, or why there is none (both ends closed then).
 */
function hookedPipe(
  signal: string,
  install: (lib: NativeLibrary, writeFd: number) => number,
): ReturnType<typeof signalPipe> {
  const lib = library();
  if (typeof lib === "string") return { ok: false, error: lib };
  const fds = signalPipe();
  if (!fds.ok) return fds;
  if (install(lib, fds.write) !== 0) {
    const error = `sigaction(${signal}): ${osError(errno())}`;
    close(fds.read);
    close(fds.write);
    return { ok: false, error };
  }
  return fds;
}

/** Calls `onSignal` for every SIGPWR sent to us from outside. Fails (with the reason) when the
 *  hook cannot be installed here (no writable dir, tcc failure): the daemon then logs a warning. */
export function onSigpwr(onSignal: () => void): { ok: true } | { ok: false; error: string } {
  if (sigpwrInstalled) return { ok: false, error: "a SIGPWR hook is already installed" };
  const fds = hookedPipe("SIGPWR", (lib, fd) => lib.symbols.zinit_sigpwr_install(fd));
  if (!fds.ok) return fds;
  sigpwrInstalled = true;
  pump(fds.read, {
    push: (bytes) => {
      for (let i = 0; i < bytes.length; i++) {
        try {
          onSignal();
        } catch {
          // The caller logs its own failures; one bad callback must not stop later signals.
        }
      }
    },
    // The write end lives as long as the process, so the stream cannot legitimately end.
    end: () => {},
  });
  return { ok: true };
}

/**
 * Calls `onPids` with the pids of the children that changed, as SIGCHLD reports them (one
 * wake-up may carry several). A pid can be missing: SIGCHLDs coalesce, and a full pipe drops; the
 * reaper covers both. Fails (with the reason) where the native hook cannot be made.
 */
export function onSigchld(
  onPids: (pids: number[]) => void,
): { ok: true } | { ok: false; error: string } {
  if (sigchld !== null) return { ok: false, error: "a SIGCHLD hook is already installed" };
  const fds = hookedPipe("SIGCHLD", (lib, fd) => lib.symbols.zinit_sigchld_install(fd));
  if (!fds.ok) return fds;
  sigchld = fds;
  pump(fds.read, pidSink(onPids));
  return { ok: true };
}

/** Puts the SIGCHLD disposition back as it was (test processes only). */
export function offSigchld(): void {
  const lib = native;
  if (sigchld === null || lib === null || typeof lib === "string") return;
  lib.symbols.zinit_sigchld_uninstall();
  // Closing the write end ends the reader, which closes its own copy of the read end.
  close(sigchld.write);
  sigchld = null;
}

/** Four little-endian bytes per pid, possibly split across reads. */
function pidSink(onPids: (pids: number[]) => void): ChunkSink {
  let carry = new Uint8Array(0);
  return {
    push(bytes) {
      const all = carry.length === 0 ? bytes : Buffer.concat([carry, bytes]);
      const whole = all.length - (all.length % 4);
      const view = new DataView(all.buffer, all.byteOffset, whole);
      const pids: number[] = [];
      for (let i = 0; i < whole; i += 4) pids.push(view.getInt32(i, true));
      carry = all.slice(whole);
      if (pids.length > 0) onPids(pids);
    },
    end() {},
  };
}
