// Log throughput: one service writes numbered 100-byte lines to stdout as fast as it can; the
// clock runs from "go" until the peer's log sink holds every byte, then every line is checked.

import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LINE_BYTES, writerArgv } from "../lib/logs.ts";
import { Session } from "../lib/session.ts";
import { TimeoutError, waitFor } from "../lib/util.ts";
import type { Cell, Workload } from "./types.ts";

const WRITER = join(import.meta.dir, "..", "scripts", "writer.pl");
/** A sink that stops growing for this long has lost the rest. */
const STALL_MS = 15_000;

export const logs: Workload = {
  id: "logs",
  title: "Log throughput (one service, numbered 100-byte lines)",
  metrics: [
    { key: "mbps", label: "throughput", unit: "MB/s", better: "higher", chart: true },
    { key: "lost", label: "lines lost", unit: "lines", better: "lower" },
    {
      key: "disordered",
      label: "lines duplicated or out of order",
      unit: "lines",
      better: "lower",
    },
  ],
  async run(peer, ctx) {
    if (!peer.logReader) {
      const na = "n/a (child writes to the inherited stdout)";
      return { mbps: na, lost: na, disordered: na };
    }
    const totalBytes = (ctx.quick ? 5 : 200) * 1_000_000;
    const lines = totalBytes / LINE_BYTES;
    const dir = ctx.newDir("logs");
    const ready = join(dir, "writer.ready");
    const go = join(dir, "writer.go");
    peer.write(dir, [{ name: "logsvc", argv: writerArgv(WRITER, ready, go, lines), logged: true }]);
    const reader = peer.logReader(dir, "logsvc", lines);
    // pm2-runtime copies service output to its own stdout too; that copy is not the sink.
    const session = new Session(peer, dir, { discardOutput: true });
    try {
      await waitFor("log writer to start", 60_000, () => {
        if (!session.running) throw new Error(`${peer.name} exited early`);
        return existsSync(ready);
      });
      await reader.attach();
      const t0 = performance.now();
      writeFileSync(go, "");
      let last = 0;
      let lastChange = t0;
      let complete = true;
      await waitFor(
        "log sink to hold the payload",
        ctx.quick ? 60_000 : 600_000,
        () => {
          const now = reader.bytes();
          if (now !== last) {
            last = now;
            lastChange = performance.now();
          }
          if (now >= totalBytes) return true;
          if (performance.now() - lastChange > STALL_MS) {
            complete = false;
            return true;
          }
          return false;
        },
        2,
      ).catch((err) => {
        if (!(err instanceof TimeoutError)) throw err;
        complete = false;
      });
      const elapsed = (complete ? performance.now() : lastChange) - t0;
      const check = await reader.verify();
      const out: Record<string, Cell> = { lost: check.lost, disordered: check.disordered };
      out.mbps = complete
        ? totalBytes / 1e6 / (elapsed / 1000)
        : `incomplete: ${((check.lines * LINE_BYTES) / 1e6).toFixed(1)} of ${totalBytes / 1e6} MB`;
      return out;
    } finally {
      reader.close();
      await session.stop(30_000).catch(() => {});
    }
  },
};
