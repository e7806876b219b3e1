// Starting services: posix_spawn through FFI, never Bun.spawn (our waitpid(-1) reaper would steal
// its children). Everything that can be checked before the spawn is checked here so that a bad
// command or directory comes back as an error rather than as a child exiting 127.

import { ptr } from "bun:ffi";
import { accessSync, constants, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import {
  addchdirNp,
  cstr,
  EACCES,
  EINVAL,
  ENOENT,
  ENOSYS,
  ENOTDIR,
  errno,
  libc,
  O_CLOEXEC,
  O_RDWR,
  osError,
  RLIMIT_NOFILE,
} from "./libc.ts";

export type StdioTarget = number | "null" | "inherit";

export interface SpawnOptions {
  /** argv[0] without "/" is looked up in the child's PATH; with "/" it is relative to `cwd`. */
  argv: string[];
  /** The child's exact environment. */
  env: Record<string, string>;
  /** The child's working directory; "" means "/". */
  cwd: string;
  stdout: StdioTarget;
  stderr: StdioTarget;
  /** More fds for the child: each [child fd, parent fd] is dup2'd after stdio (child fd ≥ 3). */
  extraFds?: Array<[number, number]>;
}

export type SpawnResult = { ok: true; pid: number } | { ok: false; errno: number; error: string };

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
// Same value in glibc and musl; it gives the child its own session and group (pgid = sid = pid).
const POSIX_SPAWN_SETSID = 0x80;

// Opaque libc structs, sized generously: both libcs use 336 B / 80 B / 128 B.
const ATTR_SIZE = 512;
const ACTIONS_SIZE = 256;
const SIGSET_SIZE = 128;

const EMPTY_SIGSET = new Uint8Array(SIGSET_SIZE);
// Every signal 1..64 back to SIG_DFL. Built by hand because glibc's sigfillset/sigaddset refuse its
// internal signals 32 and 33, which Bun's process ignores and a child would otherwise inherit.
const ALL_SIGNALS = (() => {
  const set = new Uint8Array(SIGSET_SIZE);
  set.fill(0xff, 0, 8);
  return set;
})();

const fail = (n: number, what?: string): SpawnResult => ({
  ok: false,
  errno: n,
  error: what ? `${what}: ${osError(n)}` : osError(n),
});

/**
 * The soft RLIMIT_NOFILE children should start with. Bun raises its own soft limit at startup to
 * the hard limit (capped at 2^20 since oven-sh/bun#29617) and records the original nowhere (no API,
 * no environment variable, nothing in the binary's strings), so it cannot be recovered. Following
 * libuv's rule for the same problem (libuv/libuv#3181), when the soft limit looks raised (it equals
 * the hard limit or the cap) children get min(hard, 1024), the kernel's default soft limit, which
 * keeps select()-based programs safe. Otherwise Bun did not raise it and children inherit it.
 */
function childNofile(): { current: bigint; hard: bigint; child: bigint } | null {
  const lim = new BigUint64Array(2);
  if (libc.getrlimit(RLIMIT_NOFILE, lim) !== 0) return null;
  const [current = 0n, hard = 0n] = lim;
  const cap = 1n << 20n;
  const child = hard < 1024n ? hard : 1024n;
  const raised = current === hard || current === cap;
  return raised && child < current ? { current, hard, child } : null;
}

let nofile = childNofile();

/**
 * Raises our soft RLIMIT_NOFILE to the hard limit when Bun has not, so a daemon with thousands of
 * services does not run out of fds; children keep the limit we started with. 0 or the errno.
 */
export function raiseFdLimit(): number {
  const lim = new BigUint64Array(2);
  if (libc.getrlimit(RLIMIT_NOFILE, lim) !== 0) return errno();
  const [soft = 0n, hard = 0n] = lim;
  if (soft >= hard) return 0;
  if (libc.setrlimit(RLIMIT_NOFILE, new BigUint64Array([hard, hard])) !== 0) return errno();
  nofile = { current: hard, hard, child: nofile?.child ?? soft };
  return 0;
}

function setSoftNofile(soft: bigint, hard: bigint): void {
  libc.setrlimit(RLIMIT_NOFILE, new BigUint64Array([soft, hard]));
}

let devNullFd = -1;

// Opened once and kept: dup2 from it needs no free low fd in the child, whereas opening /dev/null
// there fails with EMFILE once the supervisor holds more fds than the child's (lower) limit.
function devNull(): number {
  if (devNullFd < 0) {
    const path = cstr("/dev/null");
    if (path) devNullFd = libc.open(path, O_RDWR | O_CLOEXEC, 0);
  }
  return devNullFd;
}

/** What is wrong with `path` as a program, or 0 if it is an executable file. */
function checkExecutable(path: string): number {
  try {
    if (statSync(path).isDirectory()) return EACCES;
    accessSync(path, constants.X_OK);
    return 0;
  } catch (err) {
    return errnoOf(err, ENOENT);
  }
}

function errnoOf(err: unknown, fallback: number): number {
  const n = (err as { errno?: unknown } | null)?.errno;
  // Node reports errno negated (-2 for ENOENT); Bun reports it either way depending on the call.
  return typeof n === "number" && n !== 0 ? Math.abs(n) : fallback;
}

/**
 * Resolves the program the way execvp would, but in the parent: with "/" relative to `cwd`,
 * without "/" through each PATH entry (relative entries resolve in `cwd` too). EACCES wins over
 * ENOENT when some candidate existed but was not executable, as execvp reports. A failure names
 * what was tried, since "No such file or directory" alone leaves the user guessing which file:
 * the path, or the child's PATH for a bare name that is in none of its directories.
 */
function resolveProgram(
  name: string,
  pathVar: string,
  cwd: string,
): { path: string } | { errno: number; error: string } {
  const failure = (n: number, what: string) => ({ errno: n, error: `${what}: ${osError(n)}` });
  if (name.includes("/")) {
    const path = isAbsolute(name) ? name : resolve(cwd, name);
    const n = checkExecutable(path);
    return n === 0 ? { path } : failure(n, `'${path}'`);
  }
  let denied: string | null = null;
  for (const dir of pathVar.split(":")) {
    const path = resolve(cwd, dir === "" ? "." : dir, name);
    const n = checkExecutable(path);
    if (n === 0) return { path };
    if (n === EACCES) denied ??= path;
  }
  if (denied !== null) return failure(EACCES, `'${denied}' (found in PATH)`);
  return { errno: ENOENT, error: `'${name}' not found in PATH (${pathVar})` };
}

function checkDirectory(cwd: string): number {
  try {
    if (!statSync(cwd).isDirectory()) return ENOTDIR;
    accessSync(cwd, constants.X_OK);
    return 0;
  } catch (err) {
    return errnoOf(err, ENOENT);
  }
}

function validStdio(target: StdioTarget): boolean {
  return target === "null" || target === "inherit" || (Number.isInteger(target) && target >= 0);
}

/** A NULL-terminated `char *[]` over `strings`; the buffers go into `keep` to outlive the call. */
function cArray(strings: string[], keep: Buffer[]): BigUint64Array | null {
  const array = new BigUint64Array(strings.length + 1);
  for (let i = 0; i < strings.length; i++) {
    const buf = cstr(strings[i] ?? "");
    if (!buf) return null;
    keep.push(buf);
    array[i] = BigInt(ptr(buf));
  }
  return array;
}

/**
 * Starts a process in its own session with default signal dispositions, an empty signal mask,
 * stdin on /dev/null, exactly `env`, and the original soft RLIMIT_NOFILE. It never throws.
 */
export function spawn(opts: SpawnOptions): SpawnResult {
  try {
    return spawnChecked(opts);
  } catch (err) {
    return { ok: false, errno: EINVAL, error: err instanceof Error ? err.message : String(err) };
  }
}

function spawnChecked(opts: SpawnOptions): SpawnResult {
  const { argv, env } = opts;
  if (!Array.isArray(argv) || argv.length === 0 || argv[0] === "") {
    return fail(ENOENT, "empty command");
  }
  if (!validStdio(opts.stdout) || !validStdio(opts.stderr)) return fail(EINVAL, "bad stdio target");
  const envEntries = Object.entries(env);
  for (const [key] of envEntries) {
    if (key === "" || key.includes("="))
      return fail(EINVAL, `bad environment variable name '${key}'`);
  }
  const cwd = opts.cwd === "" ? "/" : resolve(opts.cwd);
  const dirErr = checkDirectory(cwd);
  if (dirErr !== 0) return fail(dirErr, `working directory '${cwd}'`);

  const pathVar = Object.hasOwn(env, "PATH") ? String(env.PATH) : DEFAULT_PATH;
  const program = resolveProgram(argv[0] ?? "", pathVar, cwd);
  if ("errno" in program) return { ok: false, errno: program.errno, error: program.error };

  const keep: Buffer[] = [];
  const path = cstr(program.path);
  const cArgv = cArray(argv, keep);
  const cEnv = cArray(
    envEntries.map(([k, v]) => `${k}=${v}`),
    keep,
  );
  if (!path || !cArgv || !cEnv) return fail(EINVAL, "NUL byte in command or environment");
  const cDir = cstr(cwd);
  if (!cDir) return fail(EINVAL, "NUL byte in working directory");
  const nullFd = devNull();
  if (nullFd < 0) return fail(errno(), "/dev/null");

  const attr = new Uint8Array(ATTR_SIZE);
  const actions = new Uint8Array(ACTIONS_SIZE);
  let rc = libc.posix_spawnattr_init(attr);
  if (rc !== 0) return fail(rc, "posix_spawnattr_init");
  try {
    rc = libc.posix_spawn_file_actions_init(actions);
    if (rc !== 0) return fail(rc, "posix_spawn_file_actions_init");
    try {
      rc =
        libc.posix_spawnattr_setflags(
          attr,
          POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF,
        ) ||
        libc.posix_spawnattr_setsigmask(attr, EMPTY_SIGSET) ||
        libc.posix_spawnattr_setsigdefault(attr, ALL_SIGNALS) ||
        libc.posix_spawn_file_actions_adddup2(actions, nullFd, 0) ||
        addStdio(actions, opts.stdout, 1, nullFd) ||
        addStdio(actions, opts.stderr, 2, nullFd) ||
        addExtra(actions, opts.extraFds ?? []);
      if (rc !== 0) return fail(rc, "posix_spawn setup");
      if (addchdirNp) {
        rc = addchdirNp(actions, cDir);
        if (rc !== 0) return fail(rc, "posix_spawn_file_actions_addchdir_np");
      } else if (cwd !== process.cwd()) {
        return fail(ENOSYS, "this libc lacks posix_spawn_file_actions_addchdir_np");
      }
      return runSpawn(path, attr, actions, cArgv, cEnv);
    } finally {
      libc.posix_spawn_file_actions_destroy(actions);
    }
  } finally {
    libc.posix_spawnattr_destroy(attr);
  }
}

function addStdio(actions: Uint8Array, target: StdioTarget, fd: number, nullFd: number): number {
  if (target === "inherit" || target === fd) return 0;
  return libc.posix_spawn_file_actions_adddup2(actions, target === "null" ? nullFd : target, fd);
}

function addExtra(actions: Uint8Array, fds: Array<[number, number]>): number {
  for (const [child, parent] of fds) {
    if (!Number.isInteger(child) || child < 3 || !Number.isInteger(parent) || parent < 0) {
      return EINVAL;
    }
    const rc = libc.posix_spawn_file_actions_adddup2(actions, parent, child);
    if (rc !== 0) return rc;
  }
  return 0;
}

function runSpawn(
  path: Buffer,
  attr: Uint8Array,
  actions: Uint8Array,
  cArgv: BigUint64Array,
  cEnv: BigUint64Array,
): SpawnResult {
  const pidBuf = new Int32Array(1);
  // posix_spawn copies the parent's limits into the child, and there is no spawn attribute for
  // rlimits, so the soft limit is lowered around the call. A prlimit() afterwards would race with
  // the child's exec. Only this thread allocates fds during the window.
  if (nofile) setSoftNofile(nofile.child, nofile.hard);
  let rc: number;
  try {
    rc = libc.posix_spawn(pidBuf, path, actions, attr, cArgv, cEnv);
  } finally {
    if (nofile) setSoftNofile(nofile.current, nofile.hard);
  }
  // Both libcs reap a child whose exec failed before returning the error, so no zombie is left.
  if (rc !== 0) return fail(rc);
  return { ok: true, pid: pidBuf[0] ?? 0 };
}
