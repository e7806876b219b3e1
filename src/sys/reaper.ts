// The one owner of waiting for children. Every child of ours (and every orphan reparented to us as
// PID 1 or as a subreaper) is reaped here.
//
// SIGCHLD comes with the pid that exited (native.ts), and that child is reaped with waitid(P_PID)
// in constant time. SIGCHLDs coalesce, though, and a flood can fill the pipe, so after exits a
// scan with waitid(P_ALL) collects any child whose pid did not come through: at once if the last
// scan is older than SCAN_INTERVAL_MS, otherwise when it is. A scan walks every child we have in
// the kernel, so it is rate-limited rather than done per exit; with no exits there is no timer
// and an idle daemon stays idle. Where the native hook cannot be made, every SIGCHLD scans.
//
// Each zombie is first looked at without being reaped (WNOWAIT) so its /proc entry, still there,
// tells which session and process group it was in: that is how the exit of an orphan is traced
// back to its service.
//
// Before each reaping, the datagrams waiting on the sd_notify sockets are handled (notify.ts), so
// a notification sent before an exit is never taken after it.

import type { ExitStatus } from "../core/types.ts";
import { EINTR, errno, libc } from "./libc.ts";
import { offSigchld, onSigchld } from "./native.ts";
import { drainNotifySockets } from "./notify.ts";
import type { Exit, ExitHandler } from "./port.ts";
import { readProc } from "./proc.ts";

const WNOHANG = 1;
const WEXITED = 4;
const WNOWAIT = 0x01000000;
const P_ALL = 0;
const P_PID = 1;

/** The most often a scan of every child runs while exits keep coming. */
const SCAN_INTERVAL_MS = 100;
/** siginfo_t is 128 bytes; si_pid is the int at offset 16 on x86_64 and aarch64. */
const SIGINFO_SIZE = 128;
const SI_PID = 4; // in Int32 units

let handler: ExitHandler | null = null;
let mode: "native" | "scan" | null = null;
let lastScan = Number.NEGATIVE_INFINITY;
let scanTimer: Timer | null = null;
const statusBuf = new Int32Array(1);
const info = new Int32Array(SIGINFO_SIZE / 4);

/** Decodes a raw wait status (WIFEXITED/WEXITSTATUS, WIFSIGNALED/WTERMSIG/WCOREDUMP). */
export function decodeStatus(raw: number): ExitStatus {
  const low = raw & 0x7f;
  if (low === 0) return { kind: "exited", code: (raw >> 8) & 0xff };
  return { kind: "signaled", signal: low, core: (raw & 0x80) !== 0 };
}

/** An exited child not yet reaped (`pid`, or any with 0); 0 when there is none. */
function peek(pid: number): number {
  for (;;) {
    info.fill(0);
    const rc = libc.waitid(pid === 0 ? P_ALL : P_PID, pid, info, WEXITED | WNOHANG | WNOWAIT);
    if (rc === 0) return info[SI_PID] ?? 0;
    // ECHILD: no such child (or none at all); nothing but EINTR can happen with these arguments.
    if (errno() !== EINTR) return 0;
  }
}

/** Reaps the exited child `pid`, reading its /proc entry first; null if it was not one. */
function reapOne(pid: number): Exit | null {
  const proc = readProc(pid);
  let reaped = libc.waitpid(pid, statusBuf, WNOHANG);
  while (reaped < 0 && errno() === EINTR) reaped = libc.waitpid(pid, statusBuf, WNOHANG);
  return reaped === pid ? { pid, status: decodeStatus(statusBuf[0] ?? 0), info: proc } : null;
}

function deliver(exits: Exit[]): void {
  if (exits.length === 0 || !handler) return;
  try {
    handler(exits);
  } catch (err) {
    // The zombies are reaped either way; the handler reports its own failures.
    console.error("zinit: exit handler failed:", err);
  }
}

/** Reaps every exited child (the scan), then hands them all to the exit handler. */
export function reapNow(): void {
  lastScan = performance.now();
  drainNotifySockets();
  const exits: Exit[] = [];
  for (let pid = peek(0); pid > 0; pid = peek(0)) {
    const exit = reapOne(pid);
    // Not ours to reap after all (cannot happen: we are the only waiter): stop rather than spin.
    if (!exit) break;
    exits.push(exit);
  }
  deliver(exits);
}

/** The pids SIGCHLD reported: each reaped at once, then a scan for those it did not report. */
function reapPids(pids: number[]): void {
  // What the exiting processes sent first is handled first (see drainNotifySockets).
  drainNotifySockets();
  const exits: Exit[] = [];
  for (const pid of new Set(pids)) {
    if (pid <= 0 || peek(pid) !== pid) continue;
    const exit = reapOne(pid);
    if (exit) exits.push(exit);
  }
  deliver(exits);
  const since = performance.now() - lastScan;
  if (since >= SCAN_INTERVAL_MS) {
    reapNow();
  } else if (scanTimer === null) {
    scanTimer = setTimeout(() => {
      scanTimer = null;
      reapNow();
    }, SCAN_INTERVAL_MS - since);
  }
}

/**
 * Installs the SIGCHLD reaper. Children that exited before this call are reaped at once. Calling it
 * again only replaces the handler.
 */
export function startReaper(onExit: ExitHandler): { native: boolean; error?: string } {
  handler = onExit;
  let error: string | undefined;
  if (mode === null) {
    const hook = onSigchld(reapPids);
    if (hook.ok) {
      mode = "native";
    } else {
      error = hook.error;
      mode = "scan";
      process.on("SIGCHLD", reapNow);
    }
  }
  reapNow();
  return error === undefined ? { native: mode === "native" } : { native: false, error };
}

/**
 * Removes the SIGCHLD listener. For test processes only: a live reaper steals the children of
 * Bun.spawn, which later test files in the same process may use.
 */
export function stopReaper(): void {
  if (mode === "native") offSigchld();
  else if (mode === "scan") process.off("SIGCHLD", reapNow);
  if (scanTimer !== null) clearTimeout(scanTimer);
  scanTimer = null;
  mode = null;
  handler = null;
}
