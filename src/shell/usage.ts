// What the processes of every service use, for /metrics: one pass over /proc per scrape, each
// process's /proc/<pid>/stat read once (its CPU times, resident pages, parent and session: no
// statm, no sampling window), then shared out among the services. Like service_stats' sampling
// (src/sys/proc.ts) this reads /proc directly rather than through the Sys port; a process that
// vanishes meanwhile is simply not counted.

import { readdirSync, readFileSync } from "node:fs";
import { libc, SC_CLK_TCK, SC_PAGESIZE } from "../sys/libc.ts";

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

const clockTicks = Number(libc.sysconf(SC_CLK_TCK)) || 100;
const pageSize = Number(libc.sysconf(SC_PAGESIZE)) || 4096;

/**
 * ppid (field 4), session (6), utime (14), stime (15), starttime (22) and rss in pages (24) of a
 * stat line (stat(5)), counted after the comm, which ends at the last ")". Null if malformed.
 */
export function parseUsage(
  pid: number,
  text: string,
  ticksPerSecond: number,
  bytesPerPage: number,
): ProcUsage | null {
  const close = text.lastIndexOf(")");
  if (close < 0) return null;
  const f = text.slice(close + 2).split(" ");
  const [ppid, sid, utime, stime, starttime, rss] = [f[1], f[3], f[11], f[12], f[19], f[21]].map(
    Number,
  ) as number[];
  const all = [ppid, sid, utime, stime, starttime, rss] as number[];
  if (!all.every((n) => Number.isInteger(n) && n >= 0)) return null;
  return {
    pid,
    ppid: ppid as number,
    sid: sid as number,
    starttime: starttime as number,
    rss: (rss as number) * bytesPerPage,
    cpuSeconds: ((utime as number) + (stime as number)) / ticksPerSecond,
  };
}

export const scanUsage: UsageScan = () => {
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return [];
  }
  const out: ProcUsage[] = [];
  for (const name of names) {
    const c = name.charCodeAt(0);
    if (c < 49 || c > 57) continue; // not a pid (1-9 first)
    let text: string;
    try {
      text = readFileSync(`/proc/${name}/stat`, "latin1");
    } catch {
      continue;
    }
    const u = parseUsage(Number(name), text, clockTicks, pageSize);
    if (u) out.push(u);
  }
  return out;
};
