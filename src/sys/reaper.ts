// The one owner of waiting for children. Every child of ours (and every orphan reparented to us as
// PID 1 or as a subreaper) is reaped here. SIGCHLD is a wake-up only: signals coalesce, so each one
// drains every exited child. No timer: a zombie always raises a SIGCHLD after it exists, and the
// handler reaps until nothing is left, so no exit can be missed and an idle daemon stays idle.
//
// Each zombie is first looked at without being reaped (waitid with WNOWAIT) so its /proc entry,
// still there, tells which session and process group it was in: that is how the exit of an orphan
// is traced back to its service.

import type { ExitStatus } from "../core/types.ts";
import { EINTR, errno, libc } from "./libc.ts";
import type { Exit, ExitHandler } from "./port.ts";
import { readProc } from "./proc.ts";

const WNOHANG = 1;
const WEXITED = 4;
const WNOWAIT = 0x01000000;
const P_ALL = 0;
/** siginfo_t is 128 bytes; si_pid is the int at offset 16 on x86_64 and aarch64. */
const SIGINFO_SIZE = 128;
const SI_PID = 4; // in Int32 units

let handler: ExitHandler | null = null;
let started = false;
const statusBuf = new Int32Array(1);
const info = new Int32Array(SIGINFO_SIZE / 4);

/** Decodes a raw wait status (WIFEXITED/WEXITSTATUS, WIFSIGNALED/WTERMSIG/WCOREDUMP). */
export function decodeStatus(raw: number): ExitStatus {
  const low = raw & 0x7f;
  if (low === 0) return { kind: "exited", code: (raw >> 8) & 0xff };
  return { kind: "signaled", signal: low, core: (raw & 0x80) !== 0 };
}

/** The next exited child, not yet reaped; 0 when there is none (or no child at all). */
function peek(): number {
  for (;;) {
    info.fill(0);
    if (libc.waitid(P_ALL, 0, info, WEXITED | WNOHANG | WNOWAIT) === 0) return info[SI_PID] ?? 0;
    // ECHILD: no children at all; anything else but EINTR cannot happen with these arguments.
    if (errno() !== EINTR) return 0;
  }
}

/** Reaps every exited child, then hands them all to the exit handler. */
export function reapNow(): void {
  const exits: Exit[] = [];
  for (let pid = peek(); pid > 0; pid = peek()) {
    const info = readProc(pid);
    let reaped = libc.waitpid(pid, statusBuf, WNOHANG);
    while (reaped < 0 && errno() === EINTR) reaped = libc.waitpid(pid, statusBuf, WNOHANG);
    // Not ours to reap after all (cannot happen: we are the only waiter): stop rather than spin.
    if (reaped !== pid) break;
    exits.push({ pid, status: decodeStatus(statusBuf[0] ?? 0), info });
  }
  if (exits.length === 0 || !handler) return;
  try {
    handler(exits);
  } catch (err) {
    // The zombies are reaped either way; the handler reports its own failures.
    console.error("zinit: exit handler failed:", err);
  }
}

/**
 * Installs the SIGCHLD reaper. Children that exited before this call are reaped at once. Calling it
 * again only replaces the handler.
 */
export function startReaper(onExit: ExitHandler): void {
  handler = onExit;
  if (!started) {
    started = true;
    process.on("SIGCHLD", reapNow);
  }
  reapNow();
}

/**
 * Removes the SIGCHLD listener. For test processes only: a live reaper steals the children of
 * Bun.spawn, which later test files in the same process may use.
 */
export function stopReaper(): void {
  if (!started) return;
  process.off("SIGCHLD", reapNow);
  started = false;
  handler = null;
}
