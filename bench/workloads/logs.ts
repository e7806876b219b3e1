// Log throughput: one service writes numbered lines to stdout as fast as the pipe takes them
// (pre-built, so writing them costs the writer nothing but the syscalls). Two sinks:
//
//   ring   zinit's in-memory ring (no peer has one): 64-byte lines, the clock runs until the
//          ring's newest line is the last one; the ring keeps its last -b lines, which are checked.
//   files  each peer's file logger, rotating at 10 MB with room for the whole payload: 100-byte
//          lines, the clock runs until the writer has written everything (its `wchar`: the
//          supervisor drained the pipe) and the newest file holds the last line; then every line
//          in every file is checked: lost, duplicated, out of order.
//
// Peak memory is the sum of VmHWM over the supervisor's processes (the writer left out).

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bytesWritten, peakRss, writerArgv } from "../lib/logs.ts";
import { descendants } from "../lib/proc.ts";
import { Session } from "../lib/session.ts";
import { waitFor } from "../lib/util.ts";
import type { LogReader, Peer } from "../peers/types.ts";
import { above, atLeastBestPeer, type Cell, type Context, type Workload, zero } from "./types.ts";

const WRITER = join(import.meta.dir, "..", "scripts", "writer.pl");
/** Progress that stops for this long means the rest will never come. */
const STALL_MS = 15_000;
const RING_WIDTH = 64;
const FILE_WIDTH = 100;

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

interface Run {
  mbps: Cell;
  lost: Cell;
  disordered: Cell;
  checked: Cell;
  peakMb: Cell;
}

/** One supervisor, one writer of `lines` numbered `width`-byte lines into the sink `reader`. */
async function measure(
  peer: Peer,
  ctx: Context,
  label: string,
  opts: { lines: number; width: number; logged: boolean },
  reader: (dir: string) => LogReader,
): Promise<Run> {
  const totalBytes = opts.lines * opts.width;
  const dir = ctx.newDir(label);
  const files = {
    ready: join(dir, "writer.ready"),
    go: join(dir, "writer.go"),
    done: join(dir, "writer.done"),
  };
  const argv = writerArgv(WRITER, files, opts.lines, opts.width);
  peer.write(dir, [{ name: "logsvc", argv, logged: opts.logged }]);
  const sink = reader(dir);
  // pm2-runtime copies service output to its own stdout too; that copy is not the sink.
  const session = new Session(peer, dir, { discardOutput: true });
  try {
    await waitFor("log writer to start", 120_000, () => {
      if (!session.running) throw new Error(`${peer.name} exited early`);
      return existsSync(files.ready);
    });
    const writer = Number(readFileSync(files.ready, "utf8").trim());
    await sink.attach();
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
        () => sink.holdsLast(),
        () => sink.bytes(),
        limit,
      ));
    const elapsed = performance.now() - t0;
    const supervisor = descendants(session.pid)
      .map((st) => st.pid)
      .filter((pid) => pid !== writer);
    const peak = peakRss(supervisor);
    const check = await sink.verify();
    if (check.scope) ctx.note(`${peer.name}: ${check.scope}`);
    let mbps: Cell;
    if (stored) mbps = totalBytes / 1e6 / (elapsed / 1000);
    else if (!drained) mbps = `stalled: writer blocked after ${bytesWritten(writer)} bytes`;
    else mbps = "incomplete: the sink never held the last line";
    return {
      mbps,
      lost: check.lost,
      disordered: check.disordered,
      checked: check.lines,
      peakMb: peak / 1e6,
    };
  } finally {
    sink.close();
    await session.stop(30_000).catch(() => {});
  }
}

export const logs: Workload = {
  id: "logs",
  title: "Log throughput (one service; numbered lines into zinit's ring and every peer's files)",
  metrics: [
    {
      key: "ringMbps",
      label: "ring intake, 64-byte lines",
      unit: "MB/s",
      better: "higher",
      target: above(700),
    },
    { key: "ringPeak", label: "peak RSS, ring intake", unit: "MB", better: "lower" },
    {
      key: "mbps",
      label: "throughput into rotated files, 100-byte lines",
      unit: "MB/s",
      better: "higher",
      chart: true,
      target: atLeastBestPeer,
    },
    { key: "lost", label: "lines lost (files)", unit: "lines", better: "lower", target: zero },
    {
      key: "disordered",
      label: "lines duplicated or out of order (files)",
      unit: "lines",
      better: "lower",
    },
    { key: "checked", label: "lines checked (files)", unit: "lines", better: "higher" },
    { key: "peak", label: "peak RSS, file run", unit: "MB", better: "lower" },
  ],
  async run(peer, ctx) {
    const out: Record<string, Cell> = {};
    const scale = ctx.quick ? 5 : 200;
    if (peer.ringReader) {
      const lines = Math.floor((scale * 1_000_000) / RING_WIDTH);
      const ring = await measure(
        peer,
        ctx,
        "logs-ring",
        { lines, width: RING_WIDTH, logged: false },
        (dir) => peer.ringReader?.(dir, "logsvc", lines, RING_WIDTH) as LogReader,
      );
      if (ring.lost !== 0) ctx.note(`${peer.name}: the ring lost ${ring.lost} lines`);
      out.ringMbps = ring.mbps;
      out.ringPeak = ring.peakMb;
    } else {
      out.ringMbps = out.ringPeak = "n/a (no in-memory ring)";
    }
    if (!peer.logReader) {
      const na = "n/a (child writes to the inherited stdout)";
      return { ...out, mbps: na, lost: na, disordered: na, checked: na, peak: na };
    }
    const lines = (scale * 1_000_000) / FILE_WIDTH;
    const files = await measure(
      peer,
      ctx,
      "logs-files",
      { lines, width: FILE_WIDTH, logged: true },
      (dir) => peer.logReader?.(dir, "logsvc", lines, FILE_WIDTH) as LogReader,
    );
    return {
      ...out,
      mbps: files.mbps,
      lost: files.lost,
      disordered: files.disordered,
      checked: files.checked,
      peak: files.peakMb,
    };
  },
};
