// Readers of /proc. The parsers take file contents so they can be tested on strings; the readers
// treat a vanished process (ENOENT/ESRCH while reading) as absent, since any pid may exit at any time.

import { readdirSync, readFileSync } from "node:fs";
import { libc, SC_CLK_TCK, SC_PAGESIZE } from "./libc.ts";
import type { ProcInfo } from "./port.ts";

export type { ProcInfo };

/** Fields of /proc/<pid>/stat beyond ProcInfo: CPU times (clock ticks) and resident pages. */
export interface ProcStat extends ProcInfo {
  utime: number;
  stime: number;
  rssPages: number;
}

/**
 * Parses /proc/<pid>/stat. The comm sits between the first "(" and the LAST ")", because a comm
 * may itself contain spaces, "(" and ")". Null for anything malformed.
 */
export function parseStat(text: string): ProcStat | null {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 1 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  const comm = text.slice(open + 1, close);
  // After the comm: state is field 3 of stat(5), so field N is rest[N - 3].
  const rest = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  if (rest.length < 22) return null;
  const state = rest[0] ?? "";
  const nums = [rest[1], rest[2], rest[3], rest[11], rest[12], rest[19], rest[21]].map((s) =>
    Number(s),
  );
  const [ppid = Number.NaN, pgid = Number.NaN, sid = Number.NaN, utime = Number.NaN] = nums;
  const [, , , , stime = Number.NaN, starttime = Number.NaN, rssPages = Number.NaN] = nums;
  if (!Number.isInteger(pid) || pid <= 0 || state.length !== 1) return null;
  if (![ppid, pgid, sid, utime, stime, starttime, rssPages].every(Number.isInteger)) return null;
  return { pid, ppid, pgid, sid, state, starttime, comm, utime, stime, rssPages };
}

/** Resident pages from /proc/<pid>/statm (its second field); null if malformed. */
export function parseStatmResident(text: string): number | null {
  const resident = Number(text.trim().split(/\s+/)[1]);
  return Number.isInteger(resident) && resident >= 0 ? resident : null;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, "latin1");
  } catch {
    return null;
  }
}

function readStat(pid: number): ProcStat | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const text = readText(`/proc/${pid}/stat`);
  return text === null ? null : parseStat(text);
}

function toInfo(stat: ProcStat): ProcInfo {
  const { pid, ppid, pgid, sid, state, starttime, comm } = stat;
  return { pid, ppid, pgid, sid, state, starttime, comm };
}

export function readProc(pid: number): ProcInfo | null {
  const stat = readStat(pid);
  return stat === null ? null : toInfo(stat);
}

/** The stat of every process visible in /proc, in /proc's order, each read once. */
export function listStats(): ProcStat[] {
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return [];
  }
  const stats: ProcStat[] = [];
  for (const name of names) {
    if (!/^[1-9][0-9]*$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) stats.push(stat);
  }
  return stats;
}

/** Every process visible in /proc, in /proc's order. */
export function listProcs(): ProcInfo[] {
  return listStats().map(toInfo);
}

/**
 * The children of `pid`, from /proc/<pid>/task/<tid>/children: a walk that costs one file per thread
 * of that process, not a scan of every process. Null when the kernel has no such file
 * (CONFIG_PROC_CHILDREN off, or /proc not mounted); [] when the process is gone.
 */
export function childrenOf(pid: number): number[] | null {
  if (!Number.isInteger(pid) || pid <= 0) return [];
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT" && !procMounted() ? null : [];
  }
  const out: number[] = [];
  for (const tid of tids) {
    const text = readText(`/proc/${pid}/task/${tid}/children`);
    if (text === null) {
      if (tid === String(pid) && readText(`/proc/${pid}/stat`) !== null) return null;
      continue;
    }
    for (const word of text.split(" ")) {
      const child = Number(word);
      if (word !== "" && Number.isInteger(child) && child > 0) out.push(child);
    }
  }
  return out;
}

function procMounted(): boolean {
  return readText("/proc/self/stat") !== null;
}

export function zombies(): ProcInfo[] {
  return listProcs().filter((p) => p.state === "Z");
}

export const clockTicks = Number(libc.sysconf(SC_CLK_TCK)) || 100;
export const pageSize = Number(libc.sysconf(SC_PAGESIZE)) || 4096;

/**
 * RSS (bytes) and CPU (% of one core, over one shared window of `windowMs`) of each pid. A pid that
 * is gone by the end of the window, or was replaced by another process, is left out.
 */
export async function sampleStats(
  pids: number[],
  windowMs: number,
): Promise<Map<number, { rss: number; cpu: number }>> {
  const before = new Map<number, ProcStat>();
  for (const pid of new Set(pids)) {
    const stat = readStat(pid);
    if (stat) before.set(pid, stat);
  }
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, windowMs)));
  const seconds = (performance.now() - start) / 1000;
  const result = new Map<number, { rss: number; cpu: number }>();
  for (const [pid, first] of before) {
    const last = readStat(pid);
    if (!last || last.starttime !== first.starttime) continue;
    const statm = readText(`/proc/${pid}/statm`);
    const pages = statm === null ? null : parseStatmResident(statm);
    if (pages === null) continue;
    const ticks = last.utime + last.stime - (first.utime + first.stime);
    const cpu = seconds > 0 ? (ticks / clockTicks / seconds) * 100 : 0;
    result.set(pid, { rss: pages * pageSize, cpu: Math.max(0, cpu) });
  }
  return result;
}
