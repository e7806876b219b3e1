// The one owner of waitpid. Every child of ours (and every orphan reparented to us as PID 1 or as a
// subreaper) is reaped here. SIGCHLD is a wake-up only: signals coalesce, so each one drains every
// exited child. No timer: a zombie always raises a SIGCHLD after it exists, and the handler reaps
// with WNOHANG until nothing is left, so no exit can be missed and an idle daemon stays idle.

import type { ExitStatus } from "../core/types.ts";
import { EINTR, errno, libc } from "./libc.ts";

const WNOHANG = 1;

let handler: ((pid: number, status: ExitStatus) => void) | null = null;
let started = false;
const statusBuf = new Int32Array(1);

/** Decodes a raw wait status (WIFEXITED/WEXITSTATUS, WIFSIGNALED/WTERMSIG/WCOREDUMP). */
export function decodeStatus(raw: number): ExitStatus {
  const low = raw & 0x7f;
  if (low === 0) return { kind: "exited", code: (raw >> 8) & 0xff };
  return { kind: "signaled", signal: low, core: (raw & 0x80) !== 0 };
}

/** Runs the waitpid(-1, WNOHANG) loop once, handing every reaped child to the exit handler. */
export function reapNow(): void {
  for (;;) {
    const pid = libc.waitpid(-1, statusBuf, WNOHANG);
    if (pid < 0 && errno() === EINTR) continue;
    if (pid <= 0) return;
    const status = decodeStatus(statusBuf[0] ?? 0);
    if (!handler) continue;
    try {
      handler(pid, status);
    } catch (err) {
      // A throwing handler must not stop the loop: the remaining zombies would wait for the next
      // SIGCHLD, which may never come.
      console.error(`zinit: exit handler failed for pid ${pid}:`, err);
    }
  }
}

/**
 * Installs the SIGCHLD reaper. Children that exited before this call are reaped at once. Calling it
 * again only replaces the handler.
 */
export function startReaper(onExit: (pid: number, status: ExitStatus) => void): void {
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
