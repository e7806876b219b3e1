// Readiness latency: how long after a service is ready zinit reports it Running (and releases
// its dependents), when the service says so itself (a newline on its notify fd; READY=1 on
// $NOTIFY_SOCKET) and when zinit finds out by polling upstream's `test` command.
//
// Every sample is a fresh run of the service, watched through zinit's event stream. The bench
// decides when the service is ready: the notifying services (python3, already started and
// blocked on a FIFO) notify the moment the bench writes to it; the polled one is ready when the
// bench creates the file its `test` looks for, at a moment spread evenly over the first 2 s of
// the run, since what polling costs depends on where in its backoff (50 ms doubling to 2 s) the
// service gets ready. The clock runs from that write to the arrival of the Running event at
// the bench (both read with the bench's own clock), so the figures are what a client sees.

import { existsSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import type { Socket } from "bun";
import { RpcClient } from "../lib/rpc.ts";
import { Session } from "../lib/session.ts";
import { median, percentile, TimeoutError } from "../lib/util.ts";
import { zinitConfDir, zinitSocket } from "../peers/zinit.ts";
import { below, type Cell, type Workload } from "./types.ts";

const ZINIT_ONLY = "n/a (zinit only)";
const WAIT_MS = 20_000;

/** Blocks on the FIFO, then says it is ready the way $1 names. */
const READY_PY = `
import os, socket, sys
fifo = open(sys.argv[2], "rb", buffering=0)
fifo.read(1)
if sys.argv[1] == "fd":
    os.write(int(os.environ["READY_FD"]), b"\\n")
else:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])
while True:
    fifo.read(1) or os.pause()
`;

interface Change {
  name: string;
  pid: number;
  phase: string;
  ready: boolean;
}

/** stream_subscribeEvents on its own connection; every change stamped when it arrived. */
class EventStream {
  private readonly seen: Array<{ change: Change; at: number }> = [];
  private wake: (() => void) | null = null;
  private buffer = "";

  private constructor(private socket: Socket | null = null) {}

  static async open(path: string): Promise<EventStream> {
    const stream = new EventStream();
    stream.socket = await Bun.connect({
      unix: path,
      socket: { data: (_s, chunk) => stream.onData(chunk.toString()) },
    });
    stream.socket.write('{"jsonrpc":"2.0","id":1,"method":"stream_subscribeEvents"}\n');
    return stream;
  }

  private onData(text: string): void {
    const at = performance.now();
    this.buffer += text;
    for (let nl = this.buffer.indexOf("\n"); nl >= 0; nl = this.buffer.indexOf("\n")) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      const item = JSON.parse(line).params?.result;
      if (item?.event === "change") this.seen.push({ change: item as Change, at });
    }
    this.wake?.();
  }

  /** Where the next `until` looks from: changes after now. */
  mark(): number {
    return this.seen.length;
  }

  /** The first change since `from` that satisfies `pred`, and when it arrived. */
  async until(from: number, pred: (c: Change) => boolean, what: string): Promise<number> {
    const deadline = performance.now() + WAIT_MS;
    for (;;) {
      const hit = this.seen.slice(from).find((s) => pred(s.change));
      if (hit) return hit.at;
      if (performance.now() > deadline) throw new TimeoutError(`no event: ${what}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 100);
      });
    }
  }

  close(): void {
    this.socket?.end();
    this.socket = null;
  }
}

/** Stops and starts `name`; resolves once the new run is spawned and not ready yet. */
async function freshRun(client: RpcClient, events: EventStream, name: string): Promise<void> {
  await client.call("service_stop", [name], WAIT_MS);
  const from = events.mark();
  await client.call("service_start", [name], WAIT_MS);
  await events.until(
    from,
    (c) => c.name === name && c.pid !== 0 && c.phase === "running" && !c.ready,
    `${name} spawned`,
  );
}

const runningAfter = (events: EventStream, from: number, name: string) =>
  events.until(from, (c) => c.name === name && c.ready, `${name} Running`);

/** One notified run: the time from telling the service to go to its Running event. */
async function notifiedSample(
  client: RpcClient,
  events: EventStream,
  name: string,
  fifo: string,
): Promise<number> {
  await freshRun(client, events, name);
  // Resolves once the service has opened its end: it is waiting, started up.
  const writer = await open(fifo, "w");
  try {
    const from = events.mark();
    const t0 = performance.now();
    await writer.write("g");
    return (await runningAfter(events, from, name)) - t0;
  } finally {
    await writer.close();
  }
}

/** One polled run: the service is ready `delayMs` after its spawn. */
async function polledSample(
  client: RpcClient,
  events: EventStream,
  marker: string,
  delayMs: number,
): Promise<number> {
  rmSync(marker, { force: true });
  await freshRun(client, events, "polled");
  await Bun.sleep(delayMs);
  const from = events.mark();
  const t0 = performance.now();
  writeFileSync(marker, "");
  return (await runningAfter(events, from, "polled")) - t0;
}

const stats = (samples: number[]) => ({ p50: median(samples), p90: percentile(samples, 90) });

export const readiness: Workload = {
  id: "readiness",
  title: "Readiness latency (ready → Running)",
  metrics: [
    {
      key: "fdP50",
      label: "notify: fd:N, a newline (median)",
      unit: "ms",
      better: "lower",
      target: below(5),
    },
    { key: "fdP90", label: "notify: fd:N, a newline (p90)", unit: "ms", better: "lower" },
    {
      key: "sdP50",
      label: "notify: systemd, READY=1 (median)",
      unit: "ms",
      better: "lower",
      target: below(5),
    },
    { key: "sdP90", label: "notify: systemd, READY=1 (p90)", unit: "ms", better: "lower" },
    { key: "testP50", label: "test polling (median)", unit: "ms", better: "lower" },
    { key: "testP90", label: "test polling (p90)", unit: "ms", better: "lower" },
  ],
  async run(peer, ctx): Promise<Record<string, Cell>> {
    const keys = readiness.metrics.map((m) => m.key);
    if (peer.name !== "zinit") return Object.fromEntries(keys.map((k) => [k, ZINIT_ONLY]));
    if (Bun.which("python3") === null) {
      return Object.fromEntries(keys.map((k) => [k, "n/a (the senders need python3)"]));
    }
    const dir = ctx.newDir("readiness");
    const conf = zinitConfDir(dir);
    const script = join(dir, "ready.py");
    const marker = join(dir, "polled.ready");
    writeFileSync(script, READY_PY);
    Bun.spawnSync(["mkdir", "-p", conf]);
    for (const kind of ["fd", "sd"]) {
      const made = Bun.spawnSync(["mkfifo", join(dir, `${kind}.fifo`)]);
      if (made.exitCode !== 0) throw new Error(`mkfifo: ${made.stderr.toString().trim()}`);
    }
    const files = {
      fd: `exec: "python3 ${script} fd ${dir}/fd.fifo"\nnotify: fd:3\n`,
      sd: `exec: "python3 ${script} sd ${dir}/sd.fifo"\nnotify: systemd\n`,
      polled: `exec: "sleep 100000"\ntest: "test -e ${marker}"\n`,
    };
    for (const [name, text] of Object.entries(files))
      writeFileSync(join(conf, `${name}.yaml`), text);

    const session = new Session(peer, dir);
    const sock = zinitSocket(dir);
    try {
      const deadline = performance.now() + 30_000;
      while (!existsSync(sock)) {
        if (!session.running) throw new Error("zinit exited early");
        if (performance.now() > deadline) throw new TimeoutError("no zinit socket in 30 s");
        await Bun.sleep(10);
      }
      const client = await RpcClient.connect(sock);
      const events = await EventStream.open(sock);
      try {
        const notified = ctx.quick ? 5 : 30;
        const polled = ctx.quick ? 3 : 12;
        const out: Record<string, Cell> = {};
        for (const kind of ["fd", "sd"] as const) {
          const samples: number[] = [];
          for (let i = 0; i < notified; i++)
            samples.push(await notifiedSample(client, events, kind, join(dir, `${kind}.fifo`)));
          const { p50, p90 } = stats(samples);
          out[`${kind}P50`] = p50;
          out[`${kind}P90`] = p90;
        }
        const samples: number[] = [];
        for (let i = 0; i < polled; i++) {
          // Ready at moments spread evenly over the first 2 s of the run.
          const delay = Math.round(((i + 0.5) * 2_000) / polled);
          samples.push(await polledSample(client, events, marker, delay));
        }
        const { p50, p90 } = stats(samples);
        out.testP50 = p50;
        out.testP90 = p90;
        return out;
      } finally {
        events.close();
        client.close();
      }
    } finally {
      await session.stop(30_000).catch(() => {});
    }
  },
};
