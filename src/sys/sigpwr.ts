// SIGPWR, LXC's default halt signal, for a Bun process. JSC installs its own SA_SIGINFO handler for
// SIGPWR to suspend threads for GC, so `process.on("SIGPWR")` never fires and an outside SIGPWR is
// swallowed (bun-platform.md §4). This installs a C handler in front of JSC's: JSC's own
// thread-directed SIGPWRs (SI_TKILL from our pid) are chained to JSC's handler unchanged; any other
// SIGPWR writes a byte to a self-pipe that the event loop reads.
//
// The handler is compiled at runtime by bun:ffi's TinyCC. tcc cannot read `/$bunfs` inside a
// compiled binary and a scratch image has neither headers nor a libc for it to link, so the source
// is written to a writable directory, compiled with -nostdlib, and gets `sigaction`, `write` and
// `__errno_location` as pointers from dlsym. The layouts below are the same for glibc and musl on
// x86_64 and aarch64: `struct sigaction` is handler, sa_mask (128 bytes), int sa_flags, sa_restorer;
// `siginfo_t` has si_code at offset 8 and si_pid at 16.

import { cc, dlopen, FFIType, type Library, type Pointer } from "bun:ffi";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errno, F_GETFL, F_SETFL, libc, O_NONBLOCK, osError } from "./libc.ts";
import { close, pipe } from "./pipe.ts";
import { pump } from "./stream.ts";

const SOURCE = `
struct zsa { void *handler; unsigned long mask[16]; int flags; void *restorer; };
typedef int (*sigaction_fn)(int, const struct zsa *, struct zsa *);
typedef long (*write_fn)(int, const void *, unsigned long);
typedef int *(*errno_fn)(void);

#define ZSIGPWR 30
#define ZSA_SIGINFO 4
#define ZSI_TKILL (-6)

static write_fn z_write;
static errno_fn z_errno;
static int z_fd = -1;
static int z_pid;
static struct zsa z_previous;

static void z_handler(int sig, void *info, void *context) {
  int code = *(int *)((char *)info + 8);
  int pid = *(int *)((char *)info + 16);
  if (code == ZSI_TKILL && pid == z_pid) {
    void *h = z_previous.handler;
    if (z_previous.flags & ZSA_SIGINFO) {
      if (h) ((void (*)(int, void *, void *))h)(sig, info, context);
    } else if (h != (void *)0 && h != (void *)1) {
      ((void (*)(int))h)(sig);
    }
    return;
  }
  int *e = z_errno();
  int saved = *e;
  char byte = 1;
  z_write(z_fd, &byte, 1);
  *e = saved;
}

int zinit_sigpwr_install(void *sa, void *wr, void *er, int fd, int pid) {
  sigaction_fn set = (sigaction_fn)sa;
  z_write = (write_fn)wr;
  z_errno = (errno_fn)er;
  z_fd = fd;
  z_pid = pid;
  /* Read JSC's action before installing ours: our handler must never run without it. */
  if (set(ZSIGPWR, 0, &z_previous) != 0) return -1;
  struct zsa act = z_previous;
  act.handler = (void *)z_handler;
  act.flags = z_previous.flags | ZSA_SIGINFO;
  if (set(ZSIGPWR, &act, 0) != 0) return -2;
  return 0;
}
`;

const DL_NAMES = [
  "libc.so.6",
  "libdl.so.2",
  "libc.musl-x86_64.so.1",
  "libc.musl-aarch64.so.1",
] as const;

const INSTALL_SYMBOLS = {
  zinit_sigpwr_install: {
    args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.i32, FFIType.i32],
    returns: FFIType.i32,
  },
} as const;

type HandlerLibrary = Library<typeof INSTALL_SYMBOLS>;

/** The compiled handler; referenced for the life of the process so its code stays mapped. */
let installed: HandlerLibrary | null = null;

/** Calls `onSignal` for every SIGPWR sent to us from outside. Fails (with the reason) when the
 *  hook cannot be installed here (no writable dir, tcc failure): the daemon then logs a warning. */
export function onSigpwr(onSignal: () => void): { ok: true } | { ok: false; error: string } {
  if (installed) return { ok: false, error: "a SIGPWR hook is already installed" };
  const pointers = lookup();
  if (typeof pointers === "string") return { ok: false, error: pointers };
  const fds = pipe();
  if (!fds.ok) return fds;
  const fail = (error: string) => {
    close(fds.read);
    close(fds.write);
    return { ok: false as const, error };
  };
  // A flood of signals with nobody reading must drop bytes, never block the handler.
  const flags = libc.fcntl(fds.write, F_GETFL, 0);
  if (flags < 0 || libc.fcntl(fds.write, F_SETFL, flags | O_NONBLOCK) !== 0) {
    return fail(`fcntl(O_NONBLOCK): ${osError(errno())}`);
  }
  const lib = compile();
  if (typeof lib === "string") return fail(lib);
  const rc = lib.symbols.zinit_sigpwr_install(
    pointers.sigaction,
    pointers.write,
    pointers.errnoLocation,
    fds.write,
    libc.getpid(),
  );
  if (rc !== 0) return fail(`sigaction(SIGPWR): ${osError(errno())}`);
  installed = lib;
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

interface LibcPointers {
  sigaction: Pointer;
  write: Pointer;
  errnoLocation: Pointer;
}

/** The libc functions the handler calls, found in the global symbol scope, or why they were not. */
function lookup(): LibcPointers | string {
  const failures: string[] = [];
  for (const libName of DL_NAMES) {
    let dl: ReturnType<typeof openDl>;
    try {
      dl = openDl(libName);
    } catch (err) {
      failures.push(`${libName}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    try {
      const find = (name: string): Pointer | null => {
        // RTLD_DEFAULT is the null handle on glibc and musl.
        const found = dl.symbols.dlsym(null, Buffer.from(`${name}\0`));
        return typeof found === "number" && found !== 0 ? found : null;
      };
      const sigaction = find("sigaction");
      const write = find("write");
      const errnoLocation = find("__errno_location");
      if (sigaction === null || write === null || errnoLocation === null) {
        return "dlsym cannot find sigaction, write or __errno_location";
      }
      return { sigaction, write, errnoLocation };
    } finally {
      dl.close();
    }
  }
  return `cannot load dlsym (${failures.join("; ")})`;
}

function openDl(name: string) {
  return dlopen(name, { dlsym: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.ptr } });
}

/** The handler compiled by TinyCC from a scratch copy of the source, or why it could not be. */
function compile(): HandlerLibrary | string {
  const failures: string[] = [];
  for (const base of [...new Set([tmpdir(), "/run", "/tmp", "/var/run", "/dev/shm"])]) {
    let dir: string;
    try {
      dir = mkdtempSync(join(base, "zinit-sigpwr-"));
    } catch (err) {
      failures.push(`${base}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    const source = join(dir, "sigpwr.c");
    try {
      writeFileSync(source, SOURCE);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      failures.push(`${base}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    try {
      return cc({ source, library: [], flags: ["-nostdlib"], symbols: INSTALL_SYMBOLS });
    } catch (err) {
      // A compiler error does not depend on the directory; another one would fail the same way.
      return `cannot compile the SIGPWR handler: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return `no writable directory for the SIGPWR handler's source (${failures.join("; ")})`;
}
