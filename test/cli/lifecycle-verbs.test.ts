// The lifecycle verbs against a fake daemon: status (upstream's bytes, why on stderr, -v, every
// service), several services and --all in dependency order, --wait / wait / ready and their exit
// codes, events. The exact requests, stdout, stderr and exit code of each.

import { afterEach, describe, expect, test } from "bun:test";
import { FakeZinit, type Handler, LiveCli, runCli, spawnCli, table } from "./fake-zinit.ts";

const fakes: FakeZinit[] = [];
afterEach(() => {
  for (const f of fakes.splice(0)) f.stop();
});

function serve(handler: Handler): FakeZinit {
  const fake = FakeZinit.start(handler);
  fakes.push(fake);
  return fake;
}

const run = (z: FakeZinit, ...args: string[]) => runCli(["-s", z.path, ...args]);

const status = (name: string, state: string, after: Record<string, string> = {}) => ({
  name,
  pid: state === "Running" ? 42 : 0,
  state,
  target: "Up",
  after,
});

const detail = (name: string, state: string, extra: Record<string, unknown> = {}) => ({
  ...status(name, state),
  phase: state === "Running" ? "running" : "blocked",
  ready: state === "Running",
  reason: state === "Running" ? "ready" : "waiting for 'db'",
  restarts: 2,
  restarts_left: null,
  next_restart_ms: null,
  last_exit: { code: 1, signal: null },
  uptime_ms: null,
  critical: false,
  status_text: "",
  check_failure: "",
  oneshot: false,
  probes: {
    ready: { failures: 0, last_duration_ms: null },
    live: { failures: 0, last_duration_ms: null },
  },
  shutdown_timeout: 10,
  ...extra,
});

const UPSTREAM_WEB = "---\nname: web\npid: 0\nstate: Blocked\ntarget: Up\nafter:\n  db: Unknown\n";

describe("status", () => {
  test("not Running: upstream's YAML on stdout, byte for byte, and why on stderr", async () => {
    const z = serve(
      table({
        service_status: status("web", "Blocked", { db: "Unknown" }),
        service_inspect: detail("web", "Blocked"),
      }),
    );
    expect(await run(z, "status", "web")).toEqual({
      stdout: UPSTREAM_WEB,
      stderr: "zinit: web is not running: waiting for 'db'\n",
      code: 0,
    });
    expect(z.calls).toEqual([
      { method: "service_status", params: ["web"] },
      { method: "service_inspect", params: ["web"] },
    ]);
  });

  test("a failing check is the reason; Running asks nothing more; upstream daemons say nothing", async () => {
    const failing = detail("web", "Spawned", {
      check_failure: "test exited with code 1 (attempt 3); retrying in 200 ms",
    });
    const z = serve(table({ service_status: status("web", "Spawned"), service_inspect: failing }));
    expect((await run(z, "status", "web")).stderr).toBe(
      "zinit: web is not running: test exited with code 1 (attempt 3); retrying in 200 ms\n",
    );
    const up = serve(table({ service_status: status("web", "Running") }));
    expect(await run(up, "status", "web")).toEqual({
      stdout: "---\nname: web\npid: 42\nstate: Running\ntarget: Up\nafter: {}\n",
      stderr: "",
      code: 0,
    });
    expect(up.calls).toEqual([{ method: "service_status", params: ["web"] }]);
    // An upstream daemon has no service_inspect: the YAML alone, exit 0.
    const old = serve(table({ service_status: status("web", "Blocked", { db: "Unknown" }) }));
    expect(await run(old, "status", "web")).toEqual({ stdout: UPSTREAM_WEB, stderr: "", code: 0 });
  });

  test("-v prints the detail as YAML; --json as JSON", async () => {
    const z = serve(
      table({
        service_inspect: detail("web", "Running", { after: { b: "Running", a: "Success" } }),
      }),
    );
    expect(await run(z, "status", "-v", "web")).toEqual({
      stdout: [
        "---",
        "name: web",
        "pid: 42",
        "state: Running",
        "target: Up",
        "after:",
        "  a: Success",
        "  b: Running",
        "phase: running",
        "ready: true",
        "reason: ready",
        "restarts: 2",
        "restarts_left: ~",
        "next_restart_ms: ~",
        "last_exit:",
        "  code: 1",
        "  signal: ~",
        "uptime_ms: ~",
        "critical: false",
        'status_text: ""',
        'check_failure: ""',
        "oneshot: false",
        "probes:",
        "  ready:",
        "    failures: 0",
        "    last_duration_ms: ~",
        "  live:",
        "    failures: 0",
        "    last_duration_ms: ~",
        "shutdown_timeout: 10",
        "",
      ].join("\n"),
      stderr: "",
      code: 0,
    });
    const json = await run(z, "status", "web", "--json");
    expect(JSON.parse(json.stdout)).toEqual(
      detail("web", "Running", { after: { b: "Running", a: "Success" } }),
    );
    expect(z.calls.map((c) => c.method)).toEqual(["service_inspect", "service_inspect"]);
  });

  test("no name: every service's detail, in name order", async () => {
    const z = serve((req, conn) => {
      if (req.method === "service_list")
        return conn.result(req.id, { web: "Running", db: "Blocked" });
      const name = (req.params as string[])[0] as string;
      conn.result(req.id, { name, pid: 0, state: "Blocked", target: "Up", after: {}, reason: "x" });
    });
    const out = await run(z, "status");
    expect(out).toEqual({
      stdout:
        "---\nname: db\npid: 0\nstate: Blocked\ntarget: Up\nafter: {}\nreason: x\n" +
        "---\nname: web\npid: 0\nstate: Blocked\ntarget: Up\nafter: {}\nreason: x\n",
      stderr: "",
      code: 0,
    });
    const json = await run(z, "status", "--json");
    expect(JSON.parse(json.stdout).map((d: { name: string }) => d.name)).toEqual(["db", "web"]);
  });
});

/** A daemon of services with these dependencies; every action answers null. */
function daemonOf(
  after: Record<string, string[]>,
  extra: Handler = () => false as never,
): FakeZinit {
  return serve((req, conn) => {
    const [name] = (req.params as string[] | undefined) ?? [];
    switch (req.method) {
      case "service_list":
        return conn.result(
          req.id,
          Object.fromEntries(Object.keys(after).map((n) => [n, "Running"])),
        );
      case "service_status":
        return conn.result(req.id, {
          name,
          pid: 1,
          state: "Running",
          target: "Up",
          after: Object.fromEntries((after[name as string] ?? []).map((d) => [d, "Running"])),
        });
      case "service_inspect":
        return conn.result(req.id, { name, shutdown_timeout: 1 });
      case "service_wait":
        return extra(req, conn);
      default:
        return conn.result(req.id, null);
    }
  });
}

const AFTER = { web: ["db", "cache"], db: [], cache: [], worker: ["web"] };
const actions = (z: FakeZinit, method: string) =>
  z.calls.filter((c) => c.method === method).map((c) => (c.params as string[])[0]);

describe("several services, or --all", () => {
  test("start starts in dependency order; one service asks nothing else", async () => {
    const z = daemonOf(AFTER);
    expect(await run(z, "start", "worker", "web", "db", "cache")).toEqual({
      stdout: "",
      stderr: "",
      code: 0,
    });
    expect(actions(z, "service_start")).toEqual(["cache", "db", "web", "worker"]);
    const one = daemonOf(AFTER);
    expect(await run(one, "start", "web", "--json")).toEqual({
      stdout: "null\n",
      stderr: "",
      code: 0,
    });
    expect(one.calls).toEqual([{ method: "service_start", params: ["web"] }]);
  });

  test("stop --all stops dependents first, each wave together, and waits for every stop", async () => {
    const z = daemonOf(AFTER);
    expect(await run(z, "stop", "--all")).toEqual({ stdout: "", stderr: "", code: 0 });
    expect(z.calls[0]).toEqual({ method: "service_list", params: [] });
    expect(actions(z, "service_stop")).toEqual(["worker", "web", "cache", "db"]);
  });

  test("restart: every stop (dependents first), then every start (in order)", async () => {
    const z = daemonOf(AFTER);
    expect(await run(z, "restart", "db", "web")).toEqual({ stdout: "", stderr: "", code: 0 });
    const sequence = z.calls
      .filter((c) => c.method === "service_stop" || c.method === "service_start")
      .map((c) => `${c.method.slice(8)} ${(c.params as string[])[0]}`);
    expect(sequence).toEqual(["stop web", "stop db", "start db", "start web"]);
  });
});

describe("waits: exit 0 when met, 1 on timeout, 2 when a service failed", () => {
  const outcome = (why: string, services: Record<string, unknown>) => ({
    ok: why === "met",
    why,
    services,
  });

  test("start --wait waits in the daemon: one service_wait, no polling", async () => {
    const z = daemonOf(AFTER, (req, conn) =>
      conn.result(req.id, outcome("met", { db: { state: "Running", met: true, reason: "ready" } })),
    );
    expect(await run(z, "start", "db", "--wait")).toEqual({ stdout: "", stderr: "", code: 0 });
    expect(z.calls).toEqual([
      { method: "service_start", params: ["db"] },
      { method: "service_wait", params: [["db"], "running", null] },
    ]);
  });

  test("a service that fails for good: exit 2, saying which and why", async () => {
    const z = daemonOf(AFTER, (req, conn) =>
      conn.result(
        req.id,
        outcome("failed", {
          db: { state: "Running", met: true, reason: "ready" },
          web: { state: "Failure", met: false, reason: "gave up after 5 restarts" },
        }),
      ),
    );
    expect(await run(z, "start", "db", "web", "--wait")).toEqual({
      stdout: "",
      stderr: "zinit: services cannot get running: web is Failure (gave up after 5 restarts)\n",
      code: 2,
    });
  });

  test("a timeout: exit 1; the daemon is given the timeout, the call waits as long", async () => {
    const z = daemonOf(AFTER, (req, conn) =>
      conn.result(
        req.id,
        outcome("timeout", { web: { state: "Spawned", met: false, reason: "spawned" } }),
      ),
    );
    const out = await run(z, "wait", "web", "--timeout", "2");
    expect(out).toEqual({
      stdout: "",
      stderr:
        "zinit: timed out after 2 s waiting for services to be running: web is Spawned (spawned)\n",
      code: 1,
    });
    const [wait] = z.calls;
    expect(wait?.method).toBe("service_wait");
    const [names, condition, seconds] = (wait?.params ?? []) as [string[], string, number];
    expect([names, condition]).toEqual([["web"], "running"]);
    expect(seconds).toBeGreaterThan(1.9);
    expect(seconds).toBeLessThanOrEqual(2);
  });

  test("wait --for, --json prints the outcome and keeps the exit code", async () => {
    const z = daemonOf(AFTER, (req, conn) =>
      conn.result(req.id, outcome("met", { job: { state: "Success", met: true, reason: "x" } })),
    );
    expect(await run(z, "wait", "job", "--for", "exited", "--json")).toEqual({
      stdout: `${JSON.stringify(outcome("met", { job: { state: "Success", met: true, reason: "x" } }))}\n`,
      stderr: "",
      code: 0,
    });
    expect(z.calls).toEqual([{ method: "service_wait", params: [["job"], "exited", null] }]);
  });

  test("stop --wait confirms the stop with the daemon; an unknown service is an error (1)", async () => {
    const z = daemonOf(AFTER, (req, conn) =>
      conn.result(
        req.id,
        outcome("met", { db: { state: "Success", met: true, reason: "stopped" } }),
      ),
    );
    expect(await run(z, "stop", "db", "--wait")).toEqual({ stdout: "", stderr: "", code: 0 });
    expect(z.calls.map((c) => c.method)).toEqual([
      "service_inspect",
      "service_stop",
      "service_wait",
    ]);
    expect(z.calls.at(-1)?.params).toEqual([["db"], "stopped", null]);
    const unknown = serve((req, conn) =>
      conn.error(req.id, -32000, "waiting for services: service 'x' not found"),
    );
    expect(await run(unknown, "wait", "x")).toEqual({
      stdout: "",
      stderr: "zinit: waiting for services: service 'x' not found\n",
      code: 1,
    });
  });
});

describe("ready", () => {
  test("0 when ready; 1 with one line saying which are not", async () => {
    const report = (ready: boolean, notReady: unknown[] = [], more = 0) => ({
      ready,
      shutting_down: false,
      checked: 3,
      not_ready: notReady,
      more,
    });
    const ok = serve(table({ system_ready: report(true) }));
    expect(await run(ok, "ready")).toEqual({ stdout: "", stderr: "", code: 0 });
    expect(ok.calls).toEqual([{ method: "system_ready", params: [] }]);
    const not = serve(
      table({
        system_ready: report(
          false,
          [
            { name: "db", state: "Blocked", reason: "waiting for 'net'" },
            { name: "web", state: "Spawned", reason: "test exited with code 1" },
          ],
          4,
        ),
      }),
    );
    expect(await run(not, "ready", "web", "db")).toEqual({
      stdout: "",
      stderr:
        "zinit: not ready: db (Blocked: waiting for 'net'), web (Spawned: test exited with code 1), and 4 more\n",
      code: 1,
    });
    expect(not.calls).toEqual([{ method: "system_ready", params: [["web", "db"]] }]);
    const down = serve(table({ system_ready: { ...report(false), shutting_down: true } }));
    expect((await run(down, "ready")).stderr).toBe("zinit: not ready: zinit is shutting down\n");
  });
});

describe("events", () => {
  test("a line per service in the snapshot, then per change; Ctrl-C exits 0", async () => {
    const t0 = Date.UTC(2026, 0, 1);
    const view = (name: string, state: string, time: number, extra = {}) => ({
      name,
      state,
      target: "Up",
      pid: 7,
      phase: "running",
      ready: true,
      reason: "ready",
      exit: null,
      time,
      ...extra,
    });
    const z = serve((req, conn) => {
      if (req.method !== "stream_subscribeEvents") return;
      conn.result(req.id, 5);
      conn.notify("stream_subscribeEvents", 5, {
        event: "snapshot",
        services: [view("a", "Running", t0)],
      });
      conn.notify("stream_subscribeEvents", 5, {
        event: "change",
        ...view("a", "Error(Exited(Pid(7), 1))", t0 + 1500, {
          pid: 0,
          exit: { code: 1, signal: null },
          reason: "exited with code 1; restarting",
        }),
      });
      conn.notify("stream_subscribeEvents", 5, { event: "forgotten", name: "b", time: t0 + 2000 });
      conn.notify("stream_subscribeEvents", 5, {
        event: "lagged",
        dropped: 3,
        services: [view("a", "Running", t0 + 3000, { pid: 8 })],
      });
    });
    const cli = new LiveCli(spawnCli(["-s", z.path, "events"]));
    await cli.waitForStdout("pid=8");
    cli.proc.kill("SIGINT");
    expect(await cli.finish()).toEqual({
      stdout: [
        "2026-01-01T00:00:00.000Z a Running target=Up pid=7 ready",
        "2026-01-01T00:00:01.500Z a Error(Exited(Pid(7), 1)) target=Up pid=0 exit=1 exited with code 1; restarting",
        "2026-01-01T00:00:02.000Z b forgotten",
        "zinit: 3 events dropped",
        "2026-01-01T00:00:03.000Z a Running target=Up pid=8 ready",
        "",
      ].join("\n"),
      stderr: "",
      code: 0,
    });
    const json = new LiveCli(spawnCli(["-s", z.path, "events", "--json"]));
    await json.waitForStdout('"dropped":3');
    json.proc.kill("SIGINT");
    const lines = (await json.finish()).stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.event)).toEqual(["snapshot", "change", "forgotten", "lagged"]);
  });
});
