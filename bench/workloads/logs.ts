// Log throughput: one service writes numbered 100-byte lines to stdout as fast as it can. The
// clock runs from "go" until the writer has written everything (the supervisor has drained the
// pipe) and the peer's log sink holds every line; then every line number is checked.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bytesWritten, LINE_BYTES, writerArgv } from "../lib/logs.ts";
import { Session } from "../lib/session.ts";
import { waitFor } from "../lib/util.ts";
import type { LogReader } from "../peers/types.ts";
import { atLeastBestPeer, type Cell, type Workload, zero } from "./types.ts";

const WRITER = join(import.meta.dir, "..", "scripts", "writer.pl");
/** Progress that stops for this long means the rest will never come. */
const STALL_MS = 15_000;

/** Waits until `done()`; gives up (false) once `progress()` has not moved for STALL_MS. */
async function untilDoneOrStalled(
  done: () => boolean | Promise<boolean>,
  progress: () => number | null | Promise<number | null>,
  limitMs: number,
): Promise<boolean> {
  let last: number | null = -1;
  let lastChange = performance.now();
  const deadline = lastChange + limitMs;
  while (performance.now() < deadline) {
    if (await done()) return true;
    const now = await progress();
    if (now !== last) {
      last = now;
      lastChange = performance.now();
    } else if (performance.now() - lastChange > STALL_MS) {
      return false;
    }
    await Bun.sleep(2);
  }
  return false;
}

export const logs: Workload = {
  id: "logs",
  title: "Log throughput (one service, numbered 100-byte lines)",
  metrics: [
    {
      key: "mbps",
      label: "throughput",
      unit: "MB/s",
      better: "higher",
      chart: true,
      target: atLeastBestPeer,
    },
    { key: "lost", label: "lines lost", unit: "lines", better: "lower", target: zero },
    {
      key: "disordered",
      label: "lines duplicated or out of order",
      unit: "lines",
      better: "lower",
    },
    { key: "checked", label: "lines checked", unit: "lines", better: "higher" },
  ],
  async run(peer, ctx) {
    if (!peer.logReader) {
      const na = "n/a (child writes to the inherited stdout)";
      return { mbps: na, lost: na, disordered: na, checked: na };
    }
    const totalBytes = (ctx.quick ? 5 : 200) * 1_000_000;
    const lines = totalBytes / LINE_BYTES;
    const dir = ctx.newDir("logs");
    const files = {
      ready: join(dir, "writer.ready"),
      go: join(dir, "writer.go"),
      done: join(dir, "writer.done"),
    };
    peer.write(dir, [{ name: "logsvc", argv: writerArgv(WRITER, files, lines), logged: true }]);
    const reader: LogReader = peer.logReader(dir, "logsvc", lines);
    // pm2-runtime copies service output to its own stdout too; that copy is not the sink.
    const session = new Session(peer, dir, { discardOutput: true });
    try {
      await waitFor("log writer to start", 60_000, () => {
        if (!session.running) throw new Error(`${peer.name} exited early`);
        return existsSync(files.ready);
      });
      const writer = Number(readFileSync(files.ready, "utf8").trim());
      await reader.attach();
      const t0 = performance.now();
      writeFileSync(files.go, "");
      const limit = ctx.quick ? 60_000 : 600_000;
      const drained = await untilDoneOrStalled(
        () => existsSync(files.done),
        () => bytesWritten(writer),
        limit,
      );
      const stored =
        drained &&
        (await untilDoneOrStalled(
          async () => (await reader.bytes()) >= totalBytes,
          () => reader.bytes(),
          limit,
        ));
      const elapsed = performance.now() - t0;
      const check = await reader.verify();
      if (check.scope) ctx.note(`${peer.name}: ${check.scope}`);
      const out: Record<string, Cell> = {
        lost: check.lost,
        disordered: check.disordered,
        checked: check.lines,
      };
      if (stored) out.mbps = totalBytes / 1e6 / (elapsed / 1000);
      else if (!drained) out.mbps = `stalled: writer blocked after ${bytesWritten(writer)} bytes`;
      else out.mbps = `incomplete: sink holds ${await reader.bytes()} of ${totalBytes} bytes`;
      return out;
    } finally {
      reader.close();
      await session.stop(30_000).catch(() => {});
    }
  },
};
