// Restart latency as the peers' standard harness measures it: one service is SIGKILLed again and
// again, and each sample is the time from the kill until its supervisor has forked the
// replacement. Two rhythms, each on its own service of the same supervisor:
//  - settled: the kill comes 1.5 s after each restart, so every supervisor that counts a run of
//    a second as healthy (runit, s6, and zinit's default stability_period_ms) restarts at once;
//  - crash loop: the kill comes as soon as the replacement runs (its argv is the service's), so
//    each supervisor's crash-loop throttle shows, and how far it backs off.

import { alive, lastPid, pidsBetween, readCmdline, readStat } from "../lib/proc.ts";
import { ServiceFinder, Session, sleepers } from "../lib/session.ts";
import { median, percentile } from "../lib/util.ts";
import type { Peer, ServiceSpec } from "../peers/types.ts";
import { atMostPeer, type Cell, type Context, type Workload } from "./types.ts";

/** How long each settled run lasts before it is killed (the peers' harness: 1.5 s). */
const SETTLED_MS = 1_500;
/** A supervisor that has not restarted the service by then has stopped restarting it. */
const GIVE_UP_MS = 15_000;

interface Forked {
  pid: number;
  /** When the process was first seen (its fork). */
  at: number;
}

/** A new pid not yet in /proc is looked at again for this long (then it was short-lived). */
const UNSEEN_MS = 100;

/**
 * Busy-polls the pid counter for new children of `parent`, and each one's argv: the replacement
 * is the first that runs the service (s6-supervise, for one, forks short-lived helpers too).
 * The pid counter moves when a pid is allocated, a little before the process shows in /proc,
 * so a new pid is looked at until it shows. Null when no replacement runs within `timeoutMs`.
 */
function waitForReplacement(
  parent: number,
  since: number,
  marker: string,
  timeoutMs: number,
): Forked | null {
  let seen = since;
  /** New pids not in /proc yet, with when the counter showed them. */
  const unseen = new Map<number, number>();
  const children = new Map<number, number>();
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const now = lastPid();
    if (now !== seen) {
      const at = performance.now();
      for (const pid of pidsBetween(seen, now)) unseen.set(pid, at);
      seen = now;
    }
    for (const [pid, at] of unseen) {
      const st = readStat(pid);
      if (st !== null) {
        unseen.delete(pid);
        if (st.ppid === parent) children.set(pid, at);
      } else if (performance.now() - at > UNSEEN_MS) unseen.delete(pid);
    }
    for (const [pid, at] of children) {
      if (readCmdline(pid).at(-1) === marker) return { pid, at };
      if (!alive(pid)) children.delete(pid);
    }
  }
  return null;
}

interface Series {
  latencies: number[];
  /** The supervisor stopped restarting after this many restarts (null: it never did). */
  gaveUpAfter: number | null;
  /** From the first kill to the last restart. */
  totalMs: number;
}

/**
 * Kills the service `reps` times, each time `pause(forked)` after its replacement runs; resolves
 * to the kill → fork latencies.
 */
async function killRepeatedly(
  pid: number,
  marker: string,
  reps: number,
  pause: (forked: Forked) => Promise<void>,
): Promise<Series> {
  const parent = readStat(pid)?.ppid;
  if (parent === undefined) throw new Error(`service process ${pid} vanished`);
  const latencies: number[] = [];
  const began = performance.now();
  let current = pid;
  let last = began;
  for (let i = 0; i < reps; i++) {
    const before = lastPid();
    const t0 = performance.now();
    process.kill(current, "SIGKILL");
    const forked = waitForReplacement(parent, before, marker, GIVE_UP_MS);
    if (forked === null) return { latencies, gaveUpAfter: i, totalMs: last - began };
    latencies.push(forked.at - t0);
    last = forked.at;
    current = forked.pid;
    if (i < reps - 1) await pause(forked);
  }
  return { latencies, gaveUpAfter: null, totalMs: last - began };
}

const gaveUp = (s: Series) => `n/a (stopped restarting after ${s.gaveUpAfter} restarts)`;

export const restart: Workload = {
  id: "restart",
  title: "Restart latency (SIGKILL → new process), settled and in a crash loop",
  metrics: [
    {
      key: "p50",
      label: "restart p50, settled (SIGKILL 1.5 s after each restart)",
      unit: "ms",
      better: "lower",
      chart: true,
      target: atMostPeer("runit"),
    },
    { key: "p90", label: "restart p90, settled", unit: "ms", better: "lower" },
    {
      key: "loopP50",
      label: "restart p50, crash loop (SIGKILL as soon as it runs)",
      unit: "ms",
      better: "lower",
    },
    { key: "loopTotal", label: "crash loop, all 20 restarts", unit: "s", better: "lower" },
  ],
  async run(peer: Peer, ctx: Context): Promise<Record<string, Cell>> {
    if (!peer.supervises) {
      const na = "n/a (no restarts)";
      return { p50: na, p90: na, loopP50: na, loopTotal: na };
    }
    const reps = ctx.quick ? 5 : 20;
    const services = sleepers(2, "r");
    const [settledSvc, loopSvc] = services as [ServiceSpec, ServiceSpec];
    const dir = ctx.newDir("restart");
    peer.write(dir, services);
    const finder = new ServiceFinder(services);
    const session = new Session(peer, dir);
    try {
      await finder.waitAll(session.startedAt, 120_000, session);
      const pids = finder.scan();
      const pidOf = (name: string) => {
        const pid = pids.get(name);
        if (pid === undefined) throw new Error(`service ${name} vanished`);
        return pid;
      };
      const out: Record<string, Cell> = {};

      // The first kill, too, comes 1.5 s into a run.
      await Bun.sleep(SETTLED_MS);
      const markerOf = (svc: ServiceSpec) => svc.argv.at(-1) as string;
      const settled = await killRepeatedly(
        pidOf(settledSvc.name),
        markerOf(settledSvc),
        reps,
        (forked) => Bun.sleep(Math.max(0, SETTLED_MS - (performance.now() - forked.at))),
      );
      if (settled.gaveUpAfter !== null) out.p50 = out.p90 = gaveUp(settled);
      else {
        out.p50 = median(settled.latencies);
        out.p90 = percentile(settled.latencies, 90);
      }
      ctx.note(`${peer.name}: settled restarts ${settled.latencies.map((ms) => ms.toFixed(1))}`);

      // The crash-loop service has been up all along: its first kill ends a long, healthy run.
      // It runs already when it is found: the next kill follows at once.
      const loop = await killRepeatedly(
        pidOf(loopSvc.name),
        markerOf(loopSvc),
        reps,
        async () => {},
      );
      if (loop.gaveUpAfter !== null) out.loopP50 = out.loopTotal = gaveUp(loop);
      else {
        out.loopP50 = median(loop.latencies);
        out.loopTotal = loop.totalMs / 1000;
      }
      ctx.note(`${peer.name}: crash-loop restarts ${loop.latencies.map((ms) => ms.toFixed(0))}`);
      return out;
    } finally {
      await session.stop(30_000).catch(() => {});
    }
  },
};
