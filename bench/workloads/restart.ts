// Restart latency: SIGKILL a service that has been up long enough to count as healthy, then
// time until its supervisor has forked the replacement. Each sample kills a different service,
// so every peer is measured at its best case (no crash-loop throttling).

import { lastPid, pidsBetween, readStat } from "../lib/proc.ts";
import { ServiceFinder, Session, sleepers } from "../lib/session.ts";
import { median, percentile, TimeoutError } from "../lib/util.ts";
import type { Peer } from "../peers/types.ts";
import { belowPeer, type Cell, type Context, type Workload } from "./types.ts";

/** Busy-polls the pid counter: the replacement is the first new pid whose parent is `parent`. */
function waitForChild(parent: number, since: number, timeoutMs: number): number {
  let seen = since;
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const now = lastPid();
    if (now !== seen) {
      for (const pid of pidsBetween(seen, now)) {
        if (readStat(pid)?.ppid === parent) return performance.now();
      }
      seen = now;
    }
  }
  throw new TimeoutError(`no new child of ${parent} within ${timeoutMs} ms`);
}

export const restart: Workload = {
  id: "restart",
  title: "Restart latency (SIGKILL → new process)",
  metrics: [
    {
      key: "p50",
      label: "restart p50",
      unit: "ms",
      better: "lower",
      chart: true,
      target: belowPeer("runit"),
    },
    { key: "p90", label: "restart p90", unit: "ms", better: "lower" },
  ],
  async run(peer: Peer, ctx: Context): Promise<Record<string, Cell>> {
    if (!peer.supervises) return { p50: "n/a (no restarts)", p90: "n/a (no restarts)" };
    const samples = ctx.quick ? 5 : 20;
    const services = sleepers(samples, "r");
    const dir = ctx.newDir("restart");
    peer.write(dir, services);
    const finder = new ServiceFinder(services);
    const session = new Session(peer, dir);
    try {
      await finder.waitAll(session.startedAt, 120_000, session);
      await Bun.sleep(peer.healthyAfterMs + 500);
      const latencies: number[] = [];
      const pids = finder.scan();
      for (const svc of services) {
        const pid = pids.get(svc.name);
        const parent = pid === undefined ? undefined : readStat(pid)?.ppid;
        if (pid === undefined || parent === undefined)
          throw new Error(`service ${svc.name} vanished`);
        const before = lastPid();
        const t0 = performance.now();
        process.kill(pid, "SIGKILL");
        latencies.push(waitForChild(parent, before, 15_000) - t0);
      }
      return { p50: median(latencies), p90: percentile(latencies, 90) };
    } finally {
      await session.stop(30_000).catch(() => {});
    }
  },
};
