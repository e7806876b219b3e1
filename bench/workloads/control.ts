// Control plane: one status query through the peer's CLI as a whole process; for zinit also the
// JSON-RPC socket (round trip, pipelined throughput) and the HTTP server.

import { httpThroughput, RpcClient, roundTrips, socketThroughput } from "../lib/rpc.ts";
import { ServiceFinder, Session, sleepers } from "../lib/session.ts";
import { errorText, median } from "../lib/util.ts";
import { zinitSocket } from "../peers/zinit.ts";
import { above, below, type Cell, type Workload } from "./types.ts";

const ZINIT_ONLY = "n/a (zinit only)";

async function cliStatus(argv: string[], env: Record<string, string> | undefined, runs: number) {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const proc = Bun.spawn(argv, {
      env: { ...process.env, ...env },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
    const code = await proc.exited;
    const elapsed = performance.now() - t0;
    clearTimeout(timer);
    if (code !== 0) {
      const err = await new Response(proc.stderr).text();
      throw new Error(`${argv.join(" ")} exited ${code}: ${err.trim().slice(0, 200)}`);
    }
    samples.push(elapsed);
  }
  return median(samples);
}

/** The daemon's HTTP server on a free loopback port; resolves to that port. */
async function startHttp(client: RpcClient): Promise<number> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    try {
      await client.call("system_start_http_server", [`127.0.0.1:${port}`]);
      return port;
    } catch (err) {
      if (!/in use/i.test(errorText(err))) throw err;
    }
  }
  throw new Error("no free loopback port for the HTTP server after 10 attempts");
}

export const control: Workload = {
  id: "control",
  title: "Control plane",
  metrics: [
    {
      key: "cli",
      label: "CLI status, whole process (median)",
      unit: "ms",
      better: "lower",
      chart: true,
      target: below(25),
    },
    {
      key: "rttP50",
      label: "socket round trip p50",
      unit: "µs",
      better: "lower",
      target: below(100),
    },
    { key: "rttP99", label: "socket round trip p99", unit: "µs", better: "lower" },
    {
      key: "sockRps",
      label: "socket, pipelined, 4 connections",
      unit: "req/s",
      better: "higher",
      target: above(20_000),
    },
    {
      key: "httpRps",
      label: "HTTP, pipelined, 4 connections",
      unit: "req/s",
      better: "higher",
      target: above(30_000),
    },
  ],
  async run(peer, ctx) {
    if (peer.maxServices < 10) {
      const na = `n/a (max ${peer.maxServices} service)`;
      return { cli: na, rttP50: na, rttP99: na, sockRps: na, httpRps: na };
    }
    const services = sleepers(10, "c");
    const dir = ctx.newDir("control");
    peer.write(dir, services);
    const finder = new ServiceFinder(services);
    const session = new Session(peer, dir);
    const out: Record<string, Cell> = {
      rttP50: ZINIT_ONLY,
      rttP99: ZINIT_ONLY,
      sockRps: ZINIT_ONLY,
      httpRps: ZINIT_ONLY,
    };
    try {
      await finder.waitAll(session.startedAt, 60_000, session);
      const status = peer.statusCommand?.(dir, "c0");
      out.cli = status
        ? await cliStatus(status.argv, status.env, ctx.quick ? 5 : 30).catch(
            (err) => `error: ${errorText(err)}`,
          )
        : "n/a (no CLI)";
      if (peer.name !== "zinit") return out;

      const sock = zinitSocket(dir);
      const window = ctx.quick ? 1_000 : 5_000;
      try {
        const rtt = await roundTrips(sock, "service_status", ["c0"], ctx.quick ? 500 : 5_000);
        out.rttP50 = rtt.p50;
        out.rttP99 = rtt.p99;
        out.sockRps = await socketThroughput(sock, "service_status", ["c0"], 4, 32, window);
      } catch (err) {
        out.rttP50 = out.rttP99 = out.sockRps = `error: ${errorText(err)}`;
      }
      const client = await RpcClient.connect(sock);
      try {
        const port = await startHttp(client);
        // The throughput figure counts responses; make sure they are real answers.
        const probe = await fetch(`http://127.0.0.1:${port}/`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "service_status", params: ["c0"] }),
        });
        const body = (await probe.json()) as { result?: { name?: string } };
        if (probe.status !== 200 || body.result?.name !== "c0") {
          throw new Error(
            `HTTP service_status: status ${probe.status}, body ${JSON.stringify(body)}`,
          );
        }
        out.httpRps = await httpThroughput(port, "service_status", ["c0"], 4, 32, window);
      } catch (err) {
        out.httpRps = `error: ${errorText(err)}`;
      } finally {
        client.close();
      }
      return out;
    } finally {
      await session.stop(30_000).catch(() => {});
    }
  },
};
