// What one process uses, read from /proc/<pid>/stat alone (one read, no sampling window), for
// /metrics: a scrape of a thousand services reads a thousand small files, nothing more. Like
// service_stats' sampling (src/sys/proc.ts), this reads /proc directly rather than through the
// Sys port; a vanished process reads as absent.

import { readFileSync } from "node:fs";
import { libc, SC_CLK_TCK, SC_PAGESIZE } from "../sys/libc.ts";

export interface ProcUsage {
  /** With the pid, identifies the process across pid reuse (clock ticks since boot). */
  starttime: number;
  /** Resident set size in bytes. */
  rss: number;
  /** User + system CPU time in seconds. */
  cpuSeconds: number;
}

export type UsageReader = (pid: number) => ProcUsage | null;

const clockTicks = Number(libc.sysconf(SC_CLK_TCK)) || 100;
const pageSize = Number(libc.sysconf(SC_PAGESIZE)) || 4096;

/**
 * utime (field 14), stime (15), starttime (22) and rss in pages (24) of a stat line (stat(5));
 * the fields are counted after the comm, which ends at the last ")". Null if malformed.
 */
export function parseUsage(text: string, ticksPerSecond: number, bytesPerPage: number) {
  const close = text.lastIndexOf(")");
  if (close < 0) return null;
  const rest = text.slice(close + 2).split(" ");
  const [utime, stime, starttime, rss] = [rest[11], rest[12], rest[19], rest[21]].map(Number);
  if (![utime, stime, starttime, rss].every((n) => Number.isInteger(n) && (n as number) >= 0)) {
    return null;
  }
  return {
    starttime: starttime as number,
    rss: (rss as number) * bytesPerPage,
    cpuSeconds: ((utime as number) + (stime as number)) / ticksPerSecond,
  };
}

export const readUsage: UsageReader = (pid) => {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return null;
  }
  return parseUsage(text, clockTicks, pageSize);
};
