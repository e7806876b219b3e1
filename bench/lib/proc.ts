// Everything the bench knows about processes comes from /proc, read the same way for every
// supervisor, so no peer's own reporting can flatter it.

import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export interface ProcStat {
  pid: number;
  ppid: number;
  state: string;
  comm: string;
  /** utime + stime in clock ticks. */
  cpuTicks: number;
}

/** Clock ticks per second of /proc/<pid>/stat times; 100 on every Linux ABI we run on. */
export const CLOCK_TICKS = 100;

export function readStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return null;
  }
  // comm may contain spaces and parentheses; the last ')' ends it.
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < 0) return null;
  const fields = text.slice(close + 2).split(" ");
  return {
    pid,
    comm: text.slice(open + 1, close),
    state: fields[0] ?? "?",
    ppid: Number(fields[1]),
    cpuTicks: Number(fields[11]) + Number(fields[12]),
  };
}

export function readCmdline(pid: number): string[] {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, "latin1");
    return raw.length === 0 ? [] : raw.replace(/\0$/, "").split("\0");
  } catch {
    return [];
  }
}

export function listPids(): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (Number.isInteger(pid) && pid > 0) out.push(pid);
  }
  return out;
}

export function allStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const pid of listPids()) {
    const st = readStat(pid);
    if (st) out.push(st);
  }
  return out;
}

/** `root` and every process below it, from one snapshot of the process table. */
export function descendants(root: number, stats: ProcStat[] = allStats()): ProcStat[] {
  const byParent = new Map<number, ProcStat[]>();
  let rootStat: ProcStat | undefined;
  for (const st of stats) {
    if (st.pid === root) rootStat = st;
    const list = byParent.get(st.ppid);
    if (list) list.push(st);
    else byParent.set(st.ppid, [st]);
  }
  if (!rootStat) return [];
  const out: ProcStat[] = [];
  const queue = [rootStat];
  for (let i = 0; i < queue.length; i++) {
    const st = queue[i]!;
    out.push(st);
    for (const child of byParent.get(st.pid) ?? []) queue.push(child);
  }
  return out;
}

/** The most recently allocated pid, from /proc/loadavg: cheap enough to poll in a tight loop. */
export function lastPid(): number {
  const text = readFileSync("/proc/loadavg", "latin1");
  return Number(text.slice(text.lastIndexOf(" ") + 1));
}

export const PID_MAX = Number(readFileSync("/proc/sys/kernel/pid_max", "latin1").trim());

/** Pids allocated after `from` up to and including `to`, across a wrap of pid_max. */
export function pidsBetween(from: number, to: number): number[] {
  const out: number[] = [];
  let pid = from;
  while (pid !== to && out.length < PID_MAX) {
    pid = pid + 1 >= PID_MAX ? 300 : pid + 1;
    out.push(pid);
  }
  return out;
}

export interface Memory {
  rssKb: number;
  pssKb: number;
}

export function memoryOf(pid: number): Memory {
  let rssKb = 0;
  let pssKb = 0;
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, "latin1");
    rssKb = Number(/^Rss:\s+(\d+)/m.exec(text)?.[1] ?? 0);
    pssKb = Number(/^Pss:\s+(\d+)/m.exec(text)?.[1] ?? 0);
  } catch {
    // The process exited between the snapshot and this read: it uses no memory any more.
  }
  return { rssKb, pssKb };
}

export function pidNamespace(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return null;
  }
}

export function alive(pid: number): boolean {
  const st = readStat(pid);
  return st !== null && st.state !== "Z";
}
