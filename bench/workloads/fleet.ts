// Start-up, memory and idle CPU come from the same kind of run (N idle services), so one run
// per (peer, N) serves all three workloads.

import { CLOCK_TICKS, memoryOf, readStat } from "../lib/proc.ts";
import { ServiceFinder, Session, sleepers } from "../lib/session.ts";
import { errorText } from "../lib/util.ts";
import type { Peer } from "../peers/types.ts";
import { below, type Cell, type Context, type Workload } from "./types.ts";

interface FleetResult {
  startupMs: number;
  procs: number;
  rssKb: number;
  pssKb: number;
  /** CPU time of the supervisor's processes over the idle window, and the window length. */
  idleCpuMs?: number;
  idleWindowMs?: number;
}

const sizes = (quick: boolean) => ({
  startup: quick ? [10, 50] : [100, 1000],
  memory: quick ? [1, 10, 50] : [1, 100, 1000],
  idle: quick ? 10 : 100,
  idleWindowMs: quick ? 3_000 : 30_000,
});

const cache = new Map<string, Promise<FleetResult>>();

function fleet(peer: Peer, ctx: Context, n: number): Promise<FleetResult> {
  const key = `${peer.name}/${n}`;
  let run = cache.get(key);
  if (!run) {
    run = measure(peer, ctx, n);
    cache.set(key, run);
  }
  return run;
}

async function measure(peer: Peer, ctx: Context, n: number): Promise<FleetResult> {
  const s = sizes(ctx.quick);
  const services = sleepers(n, "s");
  const dir = ctx.newDir(`fleet${n}`);
  peer.write(dir, services);
  const finder = new ServiceFinder(services);
  ctx.note(`${peer.name}: starting ${n} services`);
  const session = new Session(peer, dir);
  try {
    const startupMs = await finder.waitAll(
      session.startedAt,
      n >= 1000 ? 300_000 : 120_000,
      session,
    );
    // Let start-up work (JIT, buffers, late threads) finish before measuring steady state.
    await Bun.sleep(ctx.quick ? 500 : 2_000);
    const procs = session.supervisorProcs(finder);
    let rssKb = 0;
    let pssKb = 0;
    for (const st of procs) {
      const mem = memoryOf(st.pid);
      rssKb += mem.rssKb;
      pssKb += mem.pssKb;
    }
    const result: FleetResult = { startupMs, procs: procs.length, rssKb, pssKb };
    if (n === s.idle) {
      const ticks = () => procs.reduce((sum, st) => sum + (readStat(st.pid)?.cpuTicks ?? 0), 0);
      const before = ticks();
      const t0 = performance.now();
      await Bun.sleep(s.idleWindowMs);
      result.idleCpuMs = ((ticks() - before) * 1000) / CLOCK_TICKS;
      result.idleWindowMs = performance.now() - t0;
    }
    return result;
  } finally {
    await session.stop(60_000).catch(() => {});
  }
}

async function cell<T>(get: () => Promise<T>, pick: (r: T) => number | undefined): Promise<Cell> {
  try {
    return pick(await get()) ?? "-";
  } catch (err) {
    return `error: ${errorText(err)}`;
  }
}

function limit(peer: Peer, n: number): string | null {
  return n > peer.maxServices ? `n/a (max ${peer.maxServices} service)` : null;
}

export const startup: Workload = {
  id: "startup",
  title: "Start-up (launch → all N services running)",
  metrics: [
    { key: "small", label: "start-up, N = 100", unit: "ms", better: "lower" },
    {
      key: "large",
      label: "start-up, N = 1000",
      unit: "ms",
      better: "lower",
      chart: true,
      target: below(1000),
    },
  ],
  async run(peer, ctx) {
    const [small, large] = sizes(ctx.quick).startup as [number, number];
    const out: Record<string, Cell> = {};
    for (const [key, n] of [
      ["small", small],
      ["large", large],
    ] as const) {
      out[key] =
        limit(peer, n) ??
        (await cell(
          () => fleet(peer, ctx, n),
          (r) => r.startupMs,
        ));
    }
    return out;
  },
};

export const memory: Workload = {
  id: "memory",
  title: "Memory of the supervisor's own processes (services excluded)",
  metrics: [
    { key: "rss1", label: "RSS, N = 1", unit: "MB", better: "lower" },
    { key: "pss1", label: "PSS, N = 1", unit: "MB", better: "lower" },
    { key: "rss100", label: "RSS, N = 100", unit: "MB", better: "lower" },
    { key: "pss100", label: "PSS, N = 100", unit: "MB", better: "lower" },
    { key: "rss1000", label: "RSS, N = 1000", unit: "MB", better: "lower", target: below(60) },
    { key: "pss1000", label: "PSS, N = 1000", unit: "MB", better: "lower", chart: true },
    { key: "perService", label: "PSS per extra service", unit: "KB", better: "lower" },
    { key: "procs1000", label: "supervisor processes, N = 1000", unit: "", better: "lower" },
  ],
  async run(peer, ctx) {
    const [one, mid, big] = sizes(ctx.quick).memory as [number, number, number];
    const out: Record<string, Cell> = {};
    const mb = (kb: number) => kb / 1024;
    for (const [suffix, n] of [
      ["1", one],
      ["100", mid],
      ["1000", big],
    ] as const) {
      const skip = limit(peer, n);
      out[`rss${suffix}`] =
        skip ??
        (await cell(
          () => fleet(peer, ctx, n),
          (r) => mb(r.rssKb),
        ));
      out[`pss${suffix}`] =
        skip ??
        (await cell(
          () => fleet(peer, ctx, n),
          (r) => mb(r.pssKb),
        ));
    }
    const bigRun = limit(peer, big) ? null : fleet(peer, ctx, big);
    if (bigRun) {
      out.procs1000 = await cell(
        () => bigRun,
        (r) => r.procs,
      );
      out.perService = await cell(
        async () => ({ a: await fleet(peer, ctx, one), b: await bigRun }),
        ({ a, b }) => (b.pssKb - a.pssKb) / (big - one),
      );
    } else {
      out.procs1000 = limit(peer, big)!;
      out.perService = limit(peer, big)!;
    }
    return out;
  },
};

export const idleCpu: Workload = {
  id: "idle-cpu",
  title: "Idle CPU with 100 idle services",
  metrics: [
    { key: "cpuMs", label: "CPU time over the window", unit: "ms", better: "lower" },
    { key: "cpuPct", label: "CPU", unit: "%", better: "lower", chart: true, target: below(0.5) },
  ],
  async run(peer, ctx) {
    const n = sizes(ctx.quick).idle;
    const skip = limit(peer, n);
    if (skip) return { cpuMs: skip, cpuPct: skip };
    return {
      cpuMs: await cell(
        () => fleet(peer, ctx, n),
        (r) => r.idleCpuMs,
      ),
      cpuPct: await cell(
        () => fleet(peer, ctx, n),
        (r) => (r.idleCpuMs !== undefined ? (100 * r.idleCpuMs) / r.idleWindowMs! : undefined),
      ),
    };
  },
};
