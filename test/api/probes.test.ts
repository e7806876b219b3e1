// The open endpoints of the HTTP server over the real daemon (fake Sys): /healthz, /livez,
// /readyz and /metrics answer a kubelet-like request (the pod IP as Host, no token) while
// everything else keeps the Host/Origin/token rules; /metrics passes the real promtool.

import { afterEach, describe, expect, test } from "bun:test";
import { type TestDaemon, testDaemon } from "../helpers/daemon.ts";
import { rawHttp } from "../helpers/http.ts";
import { promtoolCheck } from "../helpers/promtool.ts";

let t: TestDaemon | null = null;

afterEach(() => {
  t?.close();
  t = null;
});

/** What a kubelet sends: the pod IP as Host, no token, no Origin. */
const kubelet = (address: string, path: string, method = "GET") =>
  rawHttp(
    address,
    `${method} ${path} HTTP/1.1\r\nHost: 10.1.2.3:8080\r\nUser-Agent: kube-probe/1.30\r\n`,
  );

/** A daemon behind a token, serving HTTP on a free port. */
async function serving(files: Record<string, string>): Promise<{ z: TestDaemon; address: string }> {
  const z = await testDaemon({ files });
  t = z;
  z.http.setAccess({ token: "s3cret" });
  return { z, address: await z.http.start("127.0.0.1:0") };
}

describe("probes a kubelet can use", () => {
  test("/healthz and /livez: 200 while zinit answers, also for HEAD", async () => {
    const { address } = await serving({ a: "exec: a\n" });
    for (const path of ["/healthz", "/livez"]) {
      const r = await kubelet(address, path);
      expect(r.status).toBe(200);
      expect(r.headers).toContain("content-type: application/json; charset=utf-8");
      expect(JSON.parse(r.body)).toEqual({ status: "ok" });
      const head = await kubelet(address, path, "HEAD");
      expect(head.status).toBe(200);
      expect(head.body).toBe("");
    }
  });

  test("/readyz: 503 saying which are not ready and why, 200 once they are", async () => {
    const { z, address } = await serving({
      web: "exec: web\ntest: check\n",
      job: "exec: job\noneshot: true\n",
      db: "exec: db\n",
    });
    const r = await kubelet(address, "/readyz");
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toEqual({
      ready: false,
      shutting_down: false,
      checked: 3,
      not_ready: [
        { name: "job", state: "Running", reason: "ready" },
        { name: "web", state: "Spawned", reason: "spawned" },
      ],
      more: 0,
    });
    z.sys.exit(z.sys.find("check").pid, { kind: "exited", code: 0 });
    z.sys.exit(z.sys.find("job").pid, { kind: "exited", code: 0 });
    await z.sys.flush();
    const ok = await kubelet(address, "/readyz");
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ ready: true, checked: 3, not_ready: [] });
    // Once a shutdown has begun, nothing is ready: the pod leaves its Service's endpoints.
    z.daemon.shutdown(false);
    expect((await kubelet(address, "/readyz")).status).toBe(503);
    expect((await kubelet(address, "/livez")).status).toBe(200);
  });

  test("/readyz?service=a,b checks those only; a bad name is 400", async () => {
    const { address } = await serving({ a: "exec: a\n", b: "exec: b\ntest: check\n" });
    expect((await kubelet(address, "/readyz?service=a")).status).toBe(200);
    const two = await kubelet(address, "/readyz?service=a,b");
    expect(two.status).toBe(503);
    expect(JSON.parse(two.body).not_ready.map((s: { name: string }) => s.name)).toEqual(["b"]);
    const repeated = await kubelet(address, "/readyz?service=a&service=ghost");
    expect(JSON.parse(repeated.body).not_ready).toEqual([
      { name: "ghost", state: "Unknown", reason: "not a monitored service" },
    ]);
    const bad = await kubelet(address, "/readyz?service=a%2Fb");
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toEqual({
      error: "invalid service name 'a/b': must not contain '/'",
    });
  });

  test("everything else keeps every check: other methods, other paths, the JSON-RPC API", async () => {
    const { address } = await serving({ a: "exec: a\n" });
    const rpc = '{"jsonrpc":"2.0","id":1,"method":"service_list"}';
    const post = (path: string, host: string, extra = "") =>
      rawHttp(
        address,
        `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n${extra}`,
        rpc,
      );
    // The pod IP is not an allowed Host, and there is no token.
    expect((await post("/readyz", "10.1.2.3:8080")).status).toBe(403);
    expect((await post("/readyz", address)).status).toBe(401);
    expect((await kubelet(address, "/")).status).toBe(403);
    expect((await kubelet(address, "/healthz/x")).status).toBe(403);
    const authed = await post("/", address, "Authorization: Bearer s3cret\r\n");
    expect(authed.status).toBe(200);
    expect(JSON.parse(authed.body)).toEqual({ jsonrpc: "2.0", result: { a: "Running" }, id: 1 });
  });
});

describe("/metrics", () => {
  test("per service and zinit's own, in the Prometheus text format promtool accepts", async () => {
    const { z, address } = await serving({
      web: "exec: web\ntest: check\n",
      'say "hi"': "exec: w\n",
      job: "exec: job\noneshot: true\n",
    });
    // What /proc would say of the processes: web has a child.
    const web = z.sys.find("web");
    web.usage = { rss: 4096 * 10, cpuSeconds: 1.5 };
    const child = z.sys.fork(web.pid, { argv: ["worker"] });
    child.usage = { rss: 4096 * 5, cpuSeconds: 0.25 };
    z.sys.exit(z.sys.find("check").pid, { kind: "exited", code: 1 });
    z.sys.exit(z.sys.find("job").pid, { kind: "exited", code: 3 });
    await z.sys.advance(250);
    const r = await kubelet(address, "/metrics");
    expect(r.status).toBe(200);
    expect(r.headers).toContain("content-type: text/plain; version=0.0.4; charset=utf-8");
    const lines = r.body.split("\n");
    const sample = (prefix: string) => lines.filter((l) => l.startsWith(prefix));
    expect(sample('zinit_service_up{service="web"}')).toEqual([
      'zinit_service_up{service="web"} 1',
    ]);
    expect(sample("zinit_service_ready{")).toEqual([
      'zinit_service_ready{service="job"} 0',
      'zinit_service_ready{service="say \\"hi\\""} 1',
      'zinit_service_ready{service="web"} 0',
    ]);
    expect(sample('zinit_service_state{service="job"')).toEqual([
      'zinit_service_state{service="job",state="Error"} 1',
    ]);
    expect(sample('zinit_service_state{service="web"')).toEqual([
      'zinit_service_state{service="web",state="Spawned"} 1',
    ]);
    expect(sample("zinit_service_last_exit_code{")).toEqual([
      'zinit_service_last_exit_code{service="job"} 3',
    ]);
    expect(sample('zinit_service_memory_rss_bytes{service="web"}')).toEqual([
      'zinit_service_memory_rss_bytes{service="web"} 61440',
    ]);
    expect(sample('zinit_service_cpu_seconds_total{service="web"}')).toEqual([
      'zinit_service_cpu_seconds_total{service="web"} 1.75',
    ]);
    expect(sample('zinit_service_processes{service="web"}')).toEqual([
      'zinit_service_processes{service="web"} 2',
    ]);
    expect(sample('zinit_service_probe_failures_total{service="web"')).toEqual([
      'zinit_service_probe_failures_total{service="web",probe="ready"} 1',
      'zinit_service_probe_failures_total{service="web",probe="live"} 0',
    ]);
    // The failed check ran from the spawn (t=0) until its exit (t=0): 0 s.
    expect(sample("zinit_service_probe_duration_seconds{")).toEqual([
      'zinit_service_probe_duration_seconds{service="web",probe="ready"} 0',
    ]);
    expect(sample("zinit_service_restarts_total{")).toHaveLength(3);
    for (const own of [
      "process_resident_memory_bytes",
      "process_open_fds",
      "process_cpu_seconds_total",
      "zinit_event_loop_lag_seconds",
      "zinit_shutting_down",
    ]) {
      const [line] = sample(`${own} `);
      expect(Number(line?.split(" ")[1])).toBeGreaterThanOrEqual(0);
    }
    expect(Number(sample("process_resident_memory_bytes ")[0]?.split(" ")[1])).toBeGreaterThan(
      1_000_000,
    );
    const verdict = await promtoolCheck(r.body);
    if (verdict !== null) expect(verdict).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  test("1000 services: a scrape of the in-memory part stays small", async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 1000; i++) files[`s${String(i).padStart(4, "0")}`] = "exec: x\n";
    const { address } = await serving(files);
    const times: number[] = [];
    let body = "";
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      body = (await kubelet(address, "/metrics")).body;
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    console.log(`metrics, 1000 fake services: median ${times[5]?.toFixed(1)} ms`);
    expect(body.split("\n").filter((l) => l.startsWith("zinit_service_up{"))).toHaveLength(1000);
    // Generous: the machine is shared; the figure itself is in the README.
    expect(times[5]).toBeLessThan(250);
    const verdict = await promtoolCheck(body);
    if (verdict !== null) expect(verdict.code).toBe(0);
  });
});
