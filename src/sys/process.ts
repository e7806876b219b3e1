// Signals, identity and power control of processes.

import { readFileSync, writeFileSync } from "node:fs";
import { EINVAL, errno, libc, RLIMIT_NOFILE } from "./libc.ts";

const PR_SET_CHILD_SUBREAPER = 36;

const RB_AUTOBOOT = 0x01234567;
const RB_HALT_SYSTEM = 0xcdef0123 | 0;
const RB_POWER_OFF = 0x4321fedc;
const RB_DISABLE_CAD = 0;

function validSignal(signal: number): boolean {
  return Number.isInteger(signal) && signal >= 0 && signal <= 64;
}

/** kill(2) as is, so pid -1 means "every process we may signal" (used at shutdown). 0 or errno. */
export function kill(pid: number, signal: number): number {
  if (!Number.isInteger(pid) || pid < -2147483648 || pid > 2147483647 || !validSignal(signal)) {
    return EINVAL;
  }
  return libc.kill(pid, signal) === 0 ? 0 : errno();
}

/**
 * Signals the process group `pgid`. Groups 0 and 1 and our own group are refused with EINVAL:
 * kill(-1) would hit every process, and our group would include ourselves.
 */
export function killGroup(pgid: number, signal: number): number {
  if (!Number.isInteger(pgid) || pgid <= 1 || pgid > 2147483647 || !validSignal(signal)) {
    return EINVAL;
  }
  if (pgid === libc.getpgrp()) return EINVAL;
  return libc.kill(-pgid, signal) === 0 ? 0 : errno();
}

export function getpid(): number {
  return libc.getpid();
}

/** Makes orphans of our descendants come to us when we are not PID 1 (e.g. under tini). 0 or errno. */
export function setChildSubreaper(): number {
  return libc.prctl(PR_SET_CHILD_SUBREAPER, 1n, 0n, 0n, 0n) === 0 ? 0 : errno();
}

const SCHED_OTHER = 0;
const SCHED_RESET_ON_FORK = 0x40000000;
const PRIO_PROCESS = 0;

/**
 * Runs the calling thread (the event loop) at `nice`, so the control socket and the reaper keep
 * up when services saturate the CPU, while every process it starts begins at nice 0:
 * SCHED_RESET_ON_FORK resets a negative nice in children, with no window where a service runs
 * at ours. 0 or the errno (EPERM without CAP_SYS_NICE).
 */
export function raisePriority(nice: number): number {
  if (libc.sched_setscheduler(0, SCHED_OTHER | SCHED_RESET_ON_FORK, new Int32Array(1)) !== 0) {
    return errno();
  }
  if (libc.setpriority(PRIO_PROCESS, 0, nice) !== 0) return errno();
  // With the kernel's autogroups, nice counts only within a session, and every service is a
  // session of its own: our session (autogroup) needs the same weight among them. Not when zinit
  // was started from a terminal (`npm run demo`, `unshare … zinit init` typed in a shell): that
  // session is the user's, whose priority is not ours to raise.
  if (inTerminalSession()) return 0;
  try {
    writeFileSync("/proc/self/autogroup", String(nice));
  } catch {
    // No autogroups (off, or not built in): the thread's nice is all there is.
  }
  return 0;
}

/** We share a session that has a controlling terminal, and do not lead it. */
function inTerminalSession(): boolean {
  if (libc.getsid(0) === libc.getpid()) return false;
  try {
    const stat = readFileSync("/proc/self/stat", "latin1");
    // tty_nr is field 7 of stat(5), the 5th after the comm's closing parenthesis.
    const ttyNr = stat
      .slice(stat.lastIndexOf(")") + 1)
      .trim()
      .split(/\s+/)[4];
    return ttyNr !== undefined && ttyNr !== "0";
  } catch {
    return false;
  }
}

const SIG_BLOCK = 0;
const SIG_UNBLOCK = 1;

/** Blocks (or unblocks) `signals` in the calling thread. 0 or the errno. */
export function blockSignals(signals: readonly number[], block: boolean): number {
  const set = new Uint8Array(128);
  for (const sig of signals)
    set[(sig - 1) >> 3] = (set[(sig - 1) >> 3] ?? 0) | (1 << ((sig - 1) & 7));
  return libc.sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, set, null) === 0 ? 0 : errno();
}

/** Our soft and hard RLIMIT_NOFILE, or null if getrlimit fails. */
export function fdLimits(): { soft: number; hard: number } | null {
  const lim = new BigUint64Array(2);
  if (libc.getrlimit(RLIMIT_NOFILE, lim) !== 0) return null;
  const clamp = (v: bigint | undefined) => Number(v !== undefined && v < 2n ** 31n ? v : 2n ** 31n);
  return { soft: clamp(lim[0]), hard: clamp(lim[1]) };
}

export function sync(): void {
  libc.sync();
}

/**
 * reboot(2). On success it does not return (inside a PID namespace the kernel kills the
 * namespace's init instead); otherwise it returns the errno, e.g. EPERM without CAP_SYS_BOOT.
 */
export function reboot(mode: "poweroff" | "reboot" | "halt"): number {
  const cmd = mode === "poweroff" ? RB_POWER_OFF : mode === "reboot" ? RB_AUTOBOOT : RB_HALT_SYSTEM;
  return libc.reboot(cmd) === 0 ? 0 : errno();
}

/**
 * Makes ctrl-alt-del send SIGINT to PID 1 instead of rebooting at once without stopping anything
 * (the kernel's default). Returns 0 or the errno.
 */
export function disableCtrlAltDel(): number {
  return libc.reboot(RB_DISABLE_CAD) === 0 ? 0 : errno();
}
