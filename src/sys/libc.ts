// The libc bindings behind every OS effect of the daemon. `libc.so.6` resolves on glibc and, because
// musl maps its reserved `libc.*` names to itself, on musl too. bun:ffi's dlopen fails as a whole if
// one symbol is missing, so symbols that not every libc has are bound one by one and feature-tested.

import { CString, dlopen, FFIType, read } from "bun:ffi";

const LIBC_NAMES = ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"];

const SYMBOLS = {
  __errno_location: { args: [], returns: FFIType.ptr },
  strerror: { args: [FFIType.i32], returns: FFIType.ptr },
  getpid: { args: [], returns: FFIType.i32 },
  getsid: { args: [FFIType.i32], returns: FFIType.i32 },
  getpgrp: { args: [], returns: FFIType.i32 },
  kill: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  waitpid: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  // idtype_t is an enum (int); id_t an unsigned int.
  waitid: { args: [FFIType.i32, FFIType.u32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  // prctl and fcntl are variadic; fixed integer arguments pass the same way on x86_64 and aarch64.
  prctl: {
    args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64],
    returns: FFIType.i32,
  },
  fcntl: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  open: { args: [FFIType.ptr, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
  pipe2: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  setsockopt: {
    args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32],
    returns: FFIType.i32,
  },
  recvmsg: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i64 },
  sync: { args: [], returns: FFIType.void },
  execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  sigprocmask: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  setpriority: { args: [FFIType.i32, FFIType.u32, FFIType.i32], returns: FFIType.i32 },
  sched_setscheduler: { args: [FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  reboot: { args: [FFIType.i32], returns: FFIType.i32 },
  getrlimit: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  setrlimit: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  sysconf: { args: [FFIType.i32], returns: FFIType.i64 },
  posix_spawn: {
    args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr],
    returns: FFIType.i32,
  },
  posix_spawnattr_init: { args: [FFIType.ptr], returns: FFIType.i32 },
  posix_spawnattr_destroy: { args: [FFIType.ptr], returns: FFIType.i32 },
  // The flags argument is a C `short`.
  posix_spawnattr_setflags: { args: [FFIType.ptr, FFIType.i16], returns: FFIType.i32 },
  posix_spawnattr_setsigmask: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  posix_spawnattr_setsigdefault: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  posix_spawn_file_actions_init: { args: [FFIType.ptr], returns: FFIType.i32 },
  posix_spawn_file_actions_destroy: { args: [FFIType.ptr], returns: FFIType.i32 },
  posix_spawn_file_actions_adddup2: {
    args: [FFIType.ptr, FFIType.i32, FFIType.i32],
    returns: FFIType.i32,
  },
} as const;

const OPTIONAL_SYMBOLS = {
  // glibc ≥ 2.29 and musl ≥ 1.1.24; the binary itself only needs glibc 2.17.
  posix_spawn_file_actions_addchdir_np: {
    args: [FFIType.ptr, FFIType.ptr],
    returns: FFIType.i32,
  },
} as const;

function openLibc() {
  const failures: string[] = [];
  for (const name of LIBC_NAMES) {
    try {
      return { name, lib: dlopen(name, SYMBOLS) };
    } catch (err) {
      failures.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new Error(`cannot load libc through bun:ffi (${failures.join("; ")})`);
}

const loaded = openLibc();

/** The bound libc functions; callers read `errno()` right after a failing call. */
export const libc = loaded.lib.symbols;

function openOptional<K extends keyof typeof OPTIONAL_SYMBOLS>(key: K) {
  try {
    return dlopen(loaded.name, { [key]: OPTIONAL_SYMBOLS[key] } as Pick<typeof OPTIONAL_SYMBOLS, K>)
      .symbols[key];
  } catch {
    return null;
  }
}

/** Null when this libc has no `posix_spawn_file_actions_addchdir_np`. */
export const addchdirNp = openOptional("posix_spawn_file_actions_addchdir_np");

export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const EINTR = 4;
export const EAGAIN = 11;
export const EACCES = 13;
export const ENOTDIR = 20;
export const EINVAL = 22;
export const EMFILE = 24;
export const ENOSYS = 38;

export const O_RDWR = 0o2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const RLIMIT_NOFILE = 7;
export const SC_CLK_TCK = 2;
export const SC_PAGESIZE = 30;

/** The calling thread's errno; read it immediately after the failing call. */
export function errno(): number {
  const location = libc.__errno_location();
  return location === null ? 0 : read.i32(location, 0);
}

/** The libc message for an errno value, e.g. 2 → "No such file or directory". */
export function strerror(n: number): string {
  const text = libc.strerror(n);
  return text === null ? `Unknown error ${n}` : new CString(text).toString();
}

/** Rust's io::Error rendering, which upstream's messages carry: "No such file or directory (os error 2)". */
export function osError(n: number): string {
  return `${strerror(n)} (os error ${n})`;
}

/** A NUL-terminated copy of `text` for passing as `const char *`; null when `text` holds a NUL. */
export function cstr(text: string): Buffer | null {
  if (text.includes("\0")) return null;
  return Buffer.from(`${text}\0`, "utf8");
}
