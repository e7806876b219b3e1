// The final sweep, after every service has stopped and before zinit exits or reboots: processes
// that outlived their service (a setsid daemon whose parent is gone) get SIGTERM, a grace period,
// then SIGKILL, and are named in the log. As PID 1 that is every other process of the PID
// namespace; otherwise only our own descendants: kill(-1) outside a namespace would hit the
// whole machine.

import type { LogLevel } from "../core/effects.ts";
import type { ProcInfo, Sys } from "../sys/port.ts";

/** How long stray processes get between SIGTERM and SIGKILL. */
const FINAL_SWEEP_MS = 2_000;

interface SweepOptions {
  sys: Sys;
  isPid1: boolean;
  say: (level: LogLevel, message: string) => void;
  /** Calls back after every batch of reaped children; returns the unsubscribe. */
  onReap: (listener: () => void) => () => void;
  graceMs?: number;
}

/** Live processes the sweep is for, zombies excluded (they are reaped, not signalled). */
function strays(sys: Sys, isPid1: boolean): ProcInfo[] {
  const self = sys.self();
  // Kernel threads (kthreadd, pid 2, and its children) show up in a machine's /proc too.
  if (isPid1) {
    return sys
      .allProcs()
      .filter((p) => p.pid !== self && p.state !== "Z" && p.pid !== 2 && p.ppid !== 2);
  }
  const found = new Map<number, ProcInfo>();
  const stack = [self];
  for (let pid = stack.pop(); pid !== undefined; pid = stack.pop()) {
    for (const kid of sys.children(pid) ?? []) {
      const p = sys.proc(kid);
      if (p && !found.has(kid)) {
        found.set(kid, p);
        stack.push(kid);
      }
    }
  }
  return [...found.values()].filter((p) => p.state !== "Z");
}

const describe = (procs: ProcInfo[]) =>
  procs
    .slice(0, 20)
    .map((p) => `${p.pid} (${p.comm})`)
    .join(", ") + (procs.length > 20 ? `, and ${procs.length - 20} more` : "");

export async function finalSweep(opts: SweepOptions): Promise<void> {
  const { sys, isPid1, say } = opts;
  const left = strays(sys, isPid1);
  if (left.length === 0) return;
  say(
    "warn",
    `${left.length} process(es) outlived their services: ${describe(left)}; sending SIGTERM`,
  );
  signal(sys, isPid1, left, 15);
  const gone = await new Promise<boolean>((resolve) => {
    const timer = sys.setTimer(opts.graceMs ?? FINAL_SWEEP_MS, () => finish(false));
    const stop = opts.onReap(() => {
      if (strays(sys, isPid1).length === 0) finish(true);
    });
    function finish(done: boolean) {
      sys.clearTimer(timer);
      stop();
      resolve(done);
    }
  });
  if (gone) return;
  const stubborn = strays(sys, isPid1);
  if (stubborn.length === 0) return;
  say(
    "warn",
    `still running after ${opts.graceMs ?? FINAL_SWEEP_MS} ms: ${describe(stubborn)}; sending SIGKILL`,
  );
  signal(sys, isPid1, stubborn, 9);
}

function signal(sys: Sys, isPid1: boolean, procs: ProcInfo[], sig: number): void {
  if (isPid1) {
    sys.kill(-1, sig);
    return;
  }
  for (const p of procs) sys.kill(p.pid, sig);
}
