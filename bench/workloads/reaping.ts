// Reaping: the supervisor is PID 1 of a fresh PID namespace; one service leaves 1000 orphaned
// grandchildren that exit on their own. Count the zombies left 1 s after the last one exited,
// then time SIGTERM to the supervisor until it has exited.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { descendants, listPids, pidNamespace, readCmdline, readStat } from "../lib/proc.ts";
import { Session } from "../lib/session.ts";
import { waitFor } from "../lib/util.ts";
import { type Cell, type Workload, zero } from "./types.ts";

const ORPHANS = join(import.meta.dir, "..", "scripts", "orphans.pl");

/** Processes of namespace `ns`, from one pass over /proc. */
function inNamespace(ns: string): { pid: number; state: string; argv: string[] }[] {
  const out: { pid: number; state: string; argv: string[] }[] = [];
  for (const pid of listPids()) {
    if (pidNamespace(pid) !== ns) continue;
    const st = readStat(pid);
    if (st) out.push({ pid, state: st.state, argv: readCmdline(pid) });
  }
  return out;
}

export const reaping: Workload = {
  id: "reaping",
  title: "Reaping as PID 1 of a new PID namespace",
  metrics: [
    {
      key: "zombies",
      label: "zombies 1 s after 1000 orphans exited",
      unit: "",
      better: "lower",
      target: zero,
    },
    { key: "sigterm", label: "SIGTERM → exit", unit: "ms", better: "lower", chart: true },
  ],
  async run(peer, ctx) {
    const count = ctx.quick ? 100 : 1000;
    const dir = ctx.newDir("reaping");
    const ready = join(dir, "orphans.ready");
    // A unique duration marks this run's grandchildren; they all exit within a few seconds.
    const seconds = `2.${String(Math.floor(Math.random() * 1e6)).padStart(6, "0")}`;
    peer.write(dir, [
      { name: "orphans", argv: ["/usr/bin/perl", ORPHANS, ready, String(count), seconds] },
    ]);
    const session = new Session(peer, dir, {
      wrap: ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"],
    });
    try {
      // unshare's only child is the namespace's PID 1.
      const init = await waitFor("PID 1 of the namespace", 30_000, () => {
        if (!session.running) throw new Error(`unshare/${peer.name} exited early`);
        return descendants(session.pid).find((st) => st.ppid === session.pid);
      });
      const ns = pidNamespace(init.pid);
      if (!ns) throw new Error("cannot read the namespace of PID 1");
      await waitFor("orphans to be created", 60_000, () => existsSync(ready));
      const isOrphan = (p: { argv: string[] }) =>
        p.argv[0]?.endsWith("sleep") && p.argv[1] === seconds;
      await waitFor(
        "orphans to exit",
        60_000,
        () => !inNamespace(ns).some((p) => p.state !== "Z" && isOrphan(p)),
        20,
      );
      await Bun.sleep(1_000);
      const zombies = inNamespace(ns).filter((p) => p.state === "Z").length;

      const t0 = performance.now();
      process.kill(init.pid, "SIGTERM");
      const exited = await Promise.race([
        session.exited.then(() => true),
        Bun.sleep(30_000).then(() => false),
      ]);
      const out: Record<string, Cell> = { zombies };
      out.sigterm = exited ? performance.now() - t0 : "did not exit within 30 s";
      return out;
    } finally {
      await session.stop(10_000).catch(() => {});
    }
  },
};
