// Shutdown: the peer's stop signal to a supervisor running 100 services, until the supervisor
// and every service are gone; once with independent services and once with a dependency chain
// (service i starts after i-1, so it must stop before it).

import { ServiceFinder, Session, sleepers } from "../lib/session.ts";
import type { Peer } from "../peers/types.ts";
import { below, type Cell, type Context, type Workload } from "./types.ts";

async function timeStop(peer: Peer, ctx: Context, chain: boolean): Promise<number> {
  const n = ctx.quick ? 10 : 100;
  const services = sleepers(n, chain ? "d" : "i").map((svc, i) =>
    chain && i > 0 ? { ...svc, after: `d${i - 1}` } : svc,
  );
  const dir = ctx.newDir(chain ? "chain" : "independent");
  peer.write(dir, services);
  const finder = new ServiceFinder(services);
  const session = new Session(peer, dir);
  try {
    await finder.waitAll(session.startedAt, 120_000, session);
    await Bun.sleep(ctx.quick ? 300 : 1_000);
    return await session.stop(60_000);
  } finally {
    await session.stop(10_000).catch(() => {});
  }
}

export const shutdown: Workload = {
  id: "shutdown",
  title: "Shutdown (stop signal → supervisor and all services gone)",
  metrics: [
    {
      key: "independent",
      label: "100 independent services",
      unit: "ms",
      better: "lower",
      chart: true,
      target: below(1000),
    },
    { key: "chain", label: "100 services in a dependency chain", unit: "ms", better: "lower" },
  ],
  async run(peer, ctx) {
    if (peer.maxServices < 100) {
      const na = `n/a (max ${peer.maxServices} service)`;
      return { independent: na, chain: na };
    }
    const out: Record<string, Cell> = { independent: await timeStop(peer, ctx, false) };
    out.chain = peer.dependencies ? await timeStop(peer, ctx, true) : "n/a (no dependencies)";
    return out;
  },
};
