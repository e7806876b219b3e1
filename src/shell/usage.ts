// What the processes of every service use, for /metrics: one pass over /proc per scrape, each
// process's /proc/<pid>/stat read once (its CPU times, resident pages, parent and session: no
// statm, no sampling window, by src/sys/proc.ts's reader), then shared out among the services.
// Like service_stats' sampling it reads /proc directly rather than through the Sys port; a
// process that vanishes meanwhile is simply not counted.

import { clockTicks, listStats, type ProcStat, pageSize } from "../sys/proc.ts";

export interface ProcUsage {
  pid: number;
  ppid: number;
  sid: number;
  /** With the pid, identifies the process across pid reuse (clock ticks since boot). */
  starttime: number;
  /** Resident set size in bytes. */
  rss: number;
  /** User + system CPU time in seconds. */
  cpuSeconds: number;
}

/** Every process's usage, read now. */
export type UsageScan = () => ProcUsage[];

/** A stat line's usage: resident pages and CPU ticks in bytes and seconds. */
export function usageOf(stat: ProcStat, ticksPerSecond: number, bytesPerPage: number): ProcUsage {
  return {
    pid: stat.pid,
    ppid: stat.ppid,
    sid: stat.sid,
    starttime: stat.starttime,
    rss: stat.rssPages * bytesPerPage,
    cpuSeconds: (stat.utime + stat.stime) / ticksPerSecond,
  };
}

export const scanUsage: UsageScan = () =>
  listStats().map((stat) => usageOf(stat, clockTicks, pageSize));
