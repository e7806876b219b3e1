// Every verb against a fake daemon: the exact requests, stdout, stderr and exit code.

import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VERSION_LINE } from "../../src/version.ts";
import {
  FakeZinit,
  type Handler,
  LiveCli,
  RpcFailure,
  runCli,
  spawnCli,
  table,
} from "./fake-zinit.ts";

let fake: FakeZinit | undefined;
const scratch: string[] = [];
afterEach(() => {
  fake?.stop();
  fake = undefined;
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function serve(handler: Handler): FakeZinit {
  fake = FakeZinit.start(handler);
  return fake;
}

const run = (z: FakeZinit, ...args: string[]) => runCli(["-s", z.path, ...args]);

/** A scratch directory for files a test hands to the CLI. */
const z0 = () => {
  const dir = mkdtempSync(join(tmpdir(), "zinit-verbs-"));
  scratch.push(dir);
  return dir;
};

describe("list / status / stats", () => {
  test("list: sorted YAML, quoted error states", async () => {
    const z = serve(
      table({ service_list: { web: "Running", db: "Error(Exited(Pid(12), 1))", "10": "Blocked" } }),
    );
    expect(await run(z, "list")).toEqual({
      stdout: '---\n"10": Blocked\ndb: "Error(Exited(Pid(12), 1))"\nweb: Running\n',
      stderr: "",
      code: 0,
    });
    expect(z.calls).toEqual([{ method: "service_list", params: [] }]);
    expect(z.requests[0]?.jsonrpc).toBe("2.0");
  });

  test("no verb is list; an empty list prints {}", async () => {
    const z = serve(table({ service_list: {} }));
    expect(await run(z)).toEqual({ stdout: "---\n{}\n", stderr: "", code: 0 });
    expect(z.calls).toEqual([{ method: "service_list", params: [] }]);
  });

  test("list --json is compact JSON with sorted keys", async () => {
    const z = serve(table({ service_list: { b: "Running", a: "Success" } }));
    expect(await run(z, "list", "--json")).toEqual({
      stdout: '{"a":"Success","b":"Running"}\n',
      stderr: "",
      code: 0,
    });
  });

  test("status", async () => {
    const status = {
      name: "redis",
      pid: 1234,
      state: "Running",
      target: "Up",
      after: { "redis-init": "Success" },
    };
    const z = serve(table({ service_status: status }));
    expect(await run(z, "status", "redis")).toEqual({
      stdout:
        "---\nname: redis\npid: 1234\nstate: Running\ntarget: Up\nafter:\n  redis-init: Success\n",
      stderr: "",
      code: 0,
    });
    expect(z.calls).toEqual([{ method: "service_status", params: ["redis"] }]);
    expect((await run(z, "status", "redis", "--json")).stdout).toBe(`${JSON.stringify(status)}\n`);
  });

  test("status of an unknown service: the daemon's message, exit 1", async () => {
    const z = serve(
      table({
        service_status: new RpcFailure(-32000, "getting status: service 'nope' not found", {
          code_name: "ServiceNotFound",
        }),
      }),
    );
    expect(await run(z, "status", "nope")).toEqual({
      stdout: "",
      stderr: "zinit: getting status: service 'nope' not found\n",
      code: 1,
    });
  });

  test("stats", async () => {
    const z = serve(
      table({
        service_stats: {
          name: "web",
          pid: 42,
          memory_usage: 1048576,
          cpu_usage: 0,
          children: [{ pid: 43, memory_usage: 2048, cpu_usage: 1.5 }],
        },
      }),
    );
    expect(await run(z, "stats", "web")).toEqual({
      stdout:
        "---\nname: web\npid: 42\nmemory_usage: 1048576\ncpu_usage: 0.0\nchildren:\n" +
        "  - pid: 43\n    memory_usage: 2048\n    cpu_usage: 1.5\n",
      stderr: "",
      code: 0,
    });
    expect(z.calls).toEqual([{ method: "service_stats", params: ["web"] }]);
  });
});

describe("service actions", () => {
  test("start, stop, monitor, forget: silent on success, `null` with --json", async () => {
    const z = serve(
      table({
        service_start: null,
        service_stop: null,
        service_monitor: null,
        service_forget: null,
        service_inspect: { name: "svc", shutdown_timeout: 10 },
      }),
    );
    for (const verb of ["start", "stop", "monitor", "forget"]) {
      expect(await run(z, verb, "svc")).toEqual({ stdout: "", stderr: "", code: 0 });
      expect(await run(z, verb, "svc", "--json")).toEqual({
        stdout: "null\n",
        stderr: "",
        code: 0,
      });
    }
    // stop asks for the service's shutdown_timeout first, to size its wait.
    expect(z.calls).toEqual(
      [
        "start",
        "start",
        "inspect",
        "stop",
        "inspect",
        "stop",
        "monitor",
        "monitor",
        "forget",
        "forget",
      ].map((v) => ({ method: `service_${v}`, params: ["svc"] })),
    );
  });

  test("monitor of a file that does not load: the cause on the same line", async () => {
    const cause = '/etc/zinit/web.yaml:2:10: oneshot: expected true or false, got "maybe"';
    const z = serve(
      table({
        service_monitor: new RpcFailure(-32005, "monitoring service: failed to load 'web.yaml'", {
          code_name: "ConfigError",
          cause_chain: [cause],
        }),
      }),
    );
    expect(await run(z, "monitor", "web")).toEqual({
      stdout: "",
      stderr: `zinit: monitoring service: failed to load 'web.yaml': ${cause}\n`,
      code: 1,
    });
  });

  test("a ConfigError without a cause_chain, and other errors, are printed as they come", async () => {
    const z = serve(
      table({
        service_monitor: new RpcFailure(-32005, "monitoring service: failed to load 'web.yaml'", {
          code_name: "ConfigError",
          cause_chain: null,
        }),
        service_start: new RpcFailure(-32000, "starting service: service 'x' not found", {
          cause_chain: ["not shown"],
        }),
      }),
    );
    expect((await run(z, "monitor", "web")).stderr).toBe(
      "zinit: monitoring service: failed to load 'web.yaml'\n",
    );
    expect((await run(z, "start", "x")).stderr).toBe(
      "zinit: starting service: service 'x' not found\n",
    );
  });

  test("kill: SIGTERM by default, the given signal otherwise", async () => {
    const z = serve(table({ service_kill: null }));
    expect(await run(z, "kill", "svc")).toEqual({ stdout: "", stderr: "", code: 0 });
    expect(await run(z, "kill", "svc", "SIGUSR1")).toEqual({ stdout: "", stderr: "", code: 0 });
    expect(z.calls).toEqual([
      { method: "service_kill", params: ["svc", "SIGTERM"] },
      { method: "service_kill", params: ["svc", "SIGUSR1"] },
    ]);
  });

  test("kill: numbers and names with or without SIG, any case, go out as the canonical name", async () => {
    const z = serve(table({ service_kill: null }));
    for (const sig of ["9", "KILL", "kill", "SIGKILL", "sigkill", "SigKill"]) {
      expect(await run(z, "kill", "svc", sig)).toEqual({ stdout: "", stderr: "", code: 0 });
    }
    expect(await run(z, "kill", "svc", "1")).toEqual({ stdout: "", stderr: "", code: 0 });
    expect(await run(z, "kill", "svc", "usr2")).toEqual({ stdout: "", stderr: "", code: 0 });
    expect(z.calls).toEqual([
      ...Array.from({ length: 6 }, () => ({ method: "service_kill", params: ["svc", "SIGKILL"] })),
      { method: "service_kill", params: ["svc", "SIGHUP"] },
      { method: "service_kill", params: ["svc", "SIGUSR2"] },
    ]);
  });

  test("forget while the target is Up: upstream's message, then why and what to do", async () => {
    const isUp = new RpcFailure(-32002, "forgetting service: service 'job' is up", {
      code_name: "ServiceIsUp",
    });
    const z = serve(
      table({
        service_forget: isUp,
        service_status: { name: "job", pid: 0, state: "Success", target: "Up", after: {} },
      }),
    );
    expect(await run(z, "forget", "job")).toEqual({
      stdout: "",
      stderr:
        "zinit: forgetting service: service 'job' is up: its target is Up; `zinit stop job` first\n",
      code: 1,
    });
    expect(z.calls).toEqual([
      { method: "service_forget", params: ["job"] },
      { method: "service_status", params: ["job"] },
    ]);
  });

  test("forget while a stop is still under way says so", async () => {
    const z = serve(
      table({
        service_forget: new RpcFailure(-32002, "forgetting service: service 'web' is up"),
        service_status: { name: "web", pid: 77, state: "Running", target: "Down", after: {} },
      }),
    );
    expect((await run(z, "forget", "web")).stderr).toBe(
      "zinit: forgetting service: service 'web' is up: it is still stopping (pid 77); wait for `zinit stop web` to return\n",
    );
  });

  test("kill with a bad signal", async () => {
    const z = serve(
      table({ service_kill: new RpcFailure(-32004, "parsing signal: invalid signal 'BOGUS'") }),
    );
    expect(await run(z, "kill", "svc", "BOGUS")).toEqual({
      stdout: "",
      stderr: "zinit: parsing signal: invalid signal 'BOGUS'\n",
      code: 1,
    });
  });

  test("restart: stop, then start", async () => {
    const z = serve(table({ service_stop: null, service_start: null }));
    expect(await run(z, "restart", "svc")).toEqual({ stdout: "", stderr: "", code: 0 });
    // A daemon without service_inspect (upstream): the timeout is read from the file instead.
    expect(z.calls).toEqual([
      { method: "service_inspect", params: ["svc"] },
      { method: "service_get", params: ["svc"] },
      { method: "service_stop", params: ["svc"] },
      { method: "service_start", params: ["svc"] },
    ]);
  });

  test("restart: a stop that does not answer in time gets SIGKILL, then start", async () => {
    let pendingStop: (() => void) | undefined;
    const z = serve((req, conn) => {
      if (req.method === "service_stop") pendingStop = () => conn.result(req.id, null);
      else if (req.method === "service_kill") {
        conn.result(req.id, null);
        pendingStop?.();
      } else conn.result(req.id, null);
    });
    const result = await runCli(["restart", "svc", "-s", z.path], { ZINIT_TIMEOUT: "0.3" });
    expect(result).toEqual({ stdout: "", stderr: "", code: 0 });
    expect(z.calls).toEqual([
      { method: "service_inspect", params: ["svc"] },
      { method: "service_stop", params: ["svc"] },
      { method: "service_kill", params: ["svc", "SIGKILL"] },
      { method: "service_start", params: ["svc"] },
    ]);
  });

  test("stop and restart wait for the service's shutdown_timeout, not just ZINIT_TIMEOUT", async () => {
    // The reply comes after 1.5 s; ZINIT_TIMEOUT alone (0.5 s) would give up while it stops.
    const z = serve((req, conn) => {
      if (req.method === "service_inspect") {
        return conn.result(req.id, { name: "slow", shutdown_timeout: 1 });
      }
      if (req.method === "service_stop") {
        setTimeout(() => conn.result(req.id, null), 1500);
        return;
      }
      conn.result(req.id, null);
    });
    const env = { ZINIT_TIMEOUT: "0.5" };
    expect(await runCli(["-s", z.path, "stop", "slow"], env)).toEqual({
      stdout: "",
      stderr: "",
      code: 0,
    });
    expect(await runCli(["-s", z.path, "restart", "slow"], env)).toEqual({
      stdout: "",
      stderr: "",
      code: 0,
    });
    expect(z.calls.map((c) => c.method)).toEqual([
      "service_inspect",
      "service_stop",
      "service_inspect",
      "service_stop",
      "service_start",
    ]);
  });

  test("an upstream daemon: the timeout comes from the service file", async () => {
    const z = serve((req, conn) => {
      if (req.method === "service_inspect") return conn.error(req.id, -32601, "Method not found");
      if (req.method === "service_get")
        return conn.result(req.id, { exec: "x", shutdown_timeout: 1 });
      if (req.method === "service_stop") {
        setTimeout(() => conn.result(req.id, null), 1500);
        return;
      }
      conn.result(req.id, null);
    });
    expect(await runCli(["-s", z.path, "stop", "slow"], { ZINIT_TIMEOUT: "0.5" })).toMatchObject({
      code: 0,
      stderr: "",
    });
  });

  test("restart of an unknown service stops at the stop error", async () => {
    const z = serve(
      table({ service_stop: new RpcFailure(-32000, "stopping service: service 'x' not found") }),
    );
    expect(await run(z, "restart", "x")).toEqual({
      stdout: "",
      stderr: "zinit: stopping service: service 'x' not found\n",
      code: 1,
    });
    expect(z.calls).toEqual([
      { method: "service_inspect", params: ["x"] },
      { method: "service_get", params: ["x"] },
      { method: "service_stop", params: ["x"] },
    ]);
  });
});

describe("shutdown / reboot (upstream bug #16)", () => {
  test("the daemon's reply means success", async () => {
    const z = serve(table({ system_shutdown: null, system_reboot: null }));
    expect(await run(z, "shutdown")).toEqual({ stdout: "", stderr: "", code: 0 });
    expect(await run(z, "reboot")).toEqual({ stdout: "", stderr: "", code: 0 });
    expect(z.calls).toEqual([
      { method: "system_shutdown", params: [] },
      { method: "system_reboot", params: [] },
    ]);
  });

  test("a daemon that goes down without answering (upstream) is success too", async () => {
    const z = serve((_req, conn) => conn.close());
    expect(await run(z, "shutdown")).toEqual({ stdout: "", stderr: "", code: 0 });
  });

  test("a refusal is an error", async () => {
    const z = serve(
      table({
        system_shutdown: new RpcFailure(-32006, "system shutdown: system is shutting down"),
      }),
    );
    expect(await run(z, "shutdown")).toEqual({
      stdout: "",
      stderr: "zinit: system shutdown: system is shutting down\n",
      code: 1,
    });
  });
});

const rec = (seq: number, service: string, line: string, stream = "stdout", time = T0 + seq) => ({
  seq,
  time,
  service,
  stream,
  line,
});
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const page = (records: unknown[], to: number, next: number | null = null) => ({
  records,
  next,
  to,
});

describe("log", () => {
  test("-s prints the ring in upstream's form and exits", async () => {
    const z = serve(
      table({
        stream_queryLogs: page([rec(1, "a", "one"), rec(2, "b", "two", "stderr")], 2),
      }),
    );
    expect(await run(z, "log", "-s")).toEqual({
      stdout: "[+] a: one\n[-] b: two\n",
      stderr: "",
      code: 0,
    });
    expect(z.calls).toEqual([{ method: "stream_queryLogs", params: {} }]);
  });

  test("-s reads every page of a large snapshot, continuing from the cursor to its end", async () => {
    const z = serve((req, conn) => {
      const p = req.params as { after?: number };
      if (p.after === undefined)
        conn.result(req.id, page([rec(1, "a", "1"), rec(2, "a", "2")], 5, 2));
      else if (p.after === 2) conn.result(req.id, page([rec(3, "a", "3"), rec(4, "a", "4")], 5, 4));
      else conn.result(req.id, page([rec(5, "a", "5")], 5));
    });
    const out = await run(z, "log", "-s", "-n", "100");
    expect(out.stdout).toBe("[+] a: 1\n[+] a: 2\n[+] a: 3\n[+] a: 4\n[+] a: 5\n");
    expect(z.calls.map((c) => c.params)).toEqual([
      { lines: 100 },
      { lines: 100, after: 2, to: 5 },
      { lines: 100, after: 4, to: 5 },
    ]);
  });

  test("-s FILTER… validates each name first; zinit and NAME/test are log names too", async () => {
    const z = serve(
      table({
        service_status: { name: "a", pid: 1, state: "Running", target: "Up", after: {} },
        stream_queryLogs: page([rec(1, "a", "one"), rec(2, "zinit", "hi", "stderr")], 2),
      }),
    );
    expect(await run(z, "log", "--snapshot", "a", "zinit", "a/test")).toEqual({
      stdout: "[+] a: one\n[-] zinit: hi\n",
      stderr: "",
      code: 0,
    });
    expect(z.calls).toEqual([
      { method: "service_status", params: ["a"] },
      { method: "service_status", params: ["a"] },
      { method: "stream_queryLogs", params: { names: ["a", "zinit", "a/test"] } },
    ]);
  });

  test("an unknown FILTER fails before any log call", async () => {
    const z = serve(
      table({ service_status: new RpcFailure(-32000, "getting status: service 'x' not found") }),
    );
    expect(await run(z, "log", "x")).toEqual({
      stdout: "",
      stderr: "zinit: getting status: service 'x' not found\n",
      code: 1,
    });
    expect(z.calls).toEqual([{ method: "service_status", params: ["x"] }]);
  });

  test("filters go to the daemon: -n, --since, --until, --grep; -t prints each line's time", async () => {
    const z = serve(table({ stream_queryLogs: page([rec(7, "a", "x=1")], 7) }));
    const out = await run(
      z,
      "log",
      "-n",
      "5",
      "--since",
      "2026-01-01T11:00:00Z",
      "--until",
      "2026-01-01T13:00:00Z",
      "--grep",
      "x=\\d",
      "-t",
    );
    expect(out).toEqual({ stdout: "2026-01-01T12:00:00.007Z [+] a: x=1\n", stderr: "", code: 0 });
    expect(z.calls).toEqual([
      {
        method: "stream_queryLogs",
        params: {
          grep: "x=\\d",
          lines: 5,
          since: Date.UTC(2026, 0, 1, 11),
          until: Date.UTC(2026, 0, 1, 13),
        },
      },
    ]);
  });

  test("--json prints one record per line (NDJSON)", async () => {
    const z = serve(table({ stream_queryLogs: page([rec(1, "a", 'say "hi"')], 1) }));
    expect(await run(z, "log", "-s", "--json")).toEqual({
      stdout: `${JSON.stringify(rec(1, "a", 'say "hi"'))}\n`,
      stderr: "",
      code: 0,
    });
  });

  test("follow: subscribe first, then the snapshot; each line once; Ctrl-C exits 0", async () => {
    const z = serve((req, conn) => {
      if (req.method === "stream_followLogs") {
        conn.result(req.id, 77);
      } else if (req.method === "stream_queryLogs") {
        // Stored after the subscription started and before the snapshot: in both.
        conn.notify("stream_followLogs", 77, rec(3, "a", "three"));
        conn.result(
          req.id,
          page([rec(1, "a", "one"), rec(2, "a", "two"), rec(3, "a", "three")], 3),
        );
        conn.notify("stream_followLogs", 99, rec(50, "x", "other subscription"));
        conn.notify("stream_followLogs", 77, rec(4, "a", "four"));
        conn.notify("stream_followLogs", 77, {
          time: T0,
          service: "zinit",
          stream: "stderr",
          line: "12 lines dropped",
          dropped: 12,
        });
        conn.notify("stream_followLogs", 77, rec(17, "a", "seventeen"));
      }
    });
    const cli = new LiveCli(spawnCli(["log", "--socket", z.path]));
    await cli.waitForStdout("seventeen\n");
    cli.proc.kill("SIGINT");
    expect(await cli.finish()).toEqual({
      stdout:
        "[+] a: one\n[+] a: two\n[+] a: three\n[+] a: four\n[-] zinit: 12 lines dropped\n[+] a: seventeen\n",
      stderr: "",
      code: 0,
    });
    expect(z.calls).toEqual([
      { method: "stream_followLogs", params: {} },
      { method: "stream_queryLogs", params: {} },
    ]);
  });

  test("follow ends cleanly, exit 0 and one line, when zinit says it is stopping", async () => {
    const z = serve((req, conn) => {
      if (req.method === "stream_followLogs") conn.result(req.id, 5);
      if (req.method === "stream_queryLogs") {
        conn.result(req.id, page([rec(1, "a", "last words")], 1));
        conn.notify("stream_followLogs", 5, {
          time: T0,
          service: "zinit",
          stream: "stderr",
          line: "zinit stopped",
          end: true,
        });
        conn.close();
      }
    });
    expect(await run(z, "log", "--grep", "w")).toEqual({
      stdout: "[+] a: last words\n",
      stderr: "zinit stopped\n",
      code: 0,
    });
  });

  test("follow ends with an error when the daemon goes away without a word", async () => {
    const z = serve((req, conn) => {
      if (req.method === "stream_followLogs") conn.result(req.id, 1);
      if (req.method === "stream_queryLogs") {
        conn.result(req.id, page([rec(1, "a", "last words")], 1));
        conn.close();
      }
    });
    expect(await run(z, "log")).toEqual({
      stdout: "[+] a: last words\n",
      stderr: "zinit: connection closed by zinit\n",
      code: 1,
    });
  });

  test("--reopen asks the daemon to reopen its log files", async () => {
    const z = serve(table({ system_reopenLogs: ["/var/log/zinit/a.log"] }));
    expect(await run(z, "log", "--reopen")).toEqual({ stdout: "", stderr: "", code: 0 });
    expect(await run(z, "log", "--reopen", "--json")).toEqual({
      stdout: '["/var/log/zinit/a.log"]\n',
      stderr: "",
      code: 0,
    });
    expect(z.calls[0]).toEqual({ method: "system_reopenLogs", params: [] });
  });

  describe("against upstream zinit (no stream_queryLogs)", () => {
    test("-s and FILTER use stream_currentLogs", async () => {
      const z = serve(
        table({
          service_status: { name: "a", pid: 1, state: "Running", target: "Up", after: {} },
          stream_currentLogs: ["[+] a: one"],
        }),
      );
      expect(await run(z, "log", "-s", "a")).toEqual({
        stdout: "[+] a: one\n",
        stderr: "",
        code: 0,
      });
      expect(z.calls).toEqual([
        { method: "service_status", params: ["a"] },
        { method: "stream_queryLogs", params: { names: ["a"] } },
        { method: "stream_currentLogs", params: ["a"] },
      ]);
    });

    test("follow: subscribeLogs first, then currentLogs, no gap and no duplicate", async () => {
      const z = serve((req, conn) => {
        if (req.method === "stream_followLogs") {
          conn.error(req.id, -32601, "Method not found");
        } else if (req.method === "stream_subscribeLogs") {
          conn.result(req.id, 77);
        } else if (req.method === "stream_currentLogs") {
          conn.notify("stream_subscribeLogs", 77, "[+] a: three");
          conn.result(req.id, ["[+] a: one", "[+] a: two", "[+] a: three"]);
          conn.notify("stream_subscribeLogs", 99, "[+] other subscription");
          conn.notify("stream_subscribeLogs", 77, "[+] a: four");
        }
      });
      const cli = new LiveCli(spawnCli(["log", "--socket", z.path]));
      await cli.waitForStdout("four\n");
      cli.proc.kill("SIGINT");
      expect(await cli.finish()).toEqual({
        stdout: "[+] a: one\n[+] a: two\n[+] a: three\n[+] a: four\n",
        stderr: "",
        code: 0,
      });
      expect(z.calls).toEqual([
        { method: "stream_followLogs", params: {} },
        { method: "stream_subscribeLogs", params: [] },
        { method: "stream_currentLogs", params: [] },
      ]);
    });

    test("the new options are refused with a clear message", async () => {
      const z = serve(table({}));
      expect(await run(z, "log", "-s", "-n", "5")).toEqual({
        stdout: "",
        stderr:
          "zinit: this zinit has no log queries (stream_queryLogs); only `zinit log [-s] [NAME]` works with it\n",
        code: 1,
      });
    });
  });
});

describe("proxy", () => {
  test("starts the daemon's HTTP server, stops it on Ctrl-C", async () => {
    const z = serve(
      table({
        system_start_http_server: "HTTP/RPC server started at 127.0.0.1:8080",
        system_stop_http_server: null,
      }),
    );
    const cli = new LiveCli(spawnCli(["-s", z.path, "proxy"]));
    await cli.waitForStdout("Press Ctrl+C to stop\n");
    cli.proc.kill("SIGINT");
    expect(await cli.finish()).toEqual({
      stdout:
        "Starting HTTP/RPC server on 127.0.0.1:8080\n" +
        `Connecting to Zinit daemon at ${z.path}\n` +
        "HTTP/RPC server started at 127.0.0.1:8080\n" +
        "Press Ctrl+C to stop\n" +
        "HTTP/RPC server stopped\n",
      stderr: "",
      code: 0,
    });
    // An upstream daemon (no system_http_access): started and stopped as before.
    expect(z.calls).toEqual([
      { method: "system_http_access", params: [] },
      { method: "system_start_http_server", params: ["127.0.0.1:8080"] },
      { method: "system_stop_http_server", params: [] },
    ]);
  });

  test("SIGTERM stops it too; a non-loopback address warns; localhost becomes 127.0.0.1", async () => {
    const z = serve((req, conn) =>
      conn.result(req.id, req.method.includes("start") ? "started" : null),
    );
    const open = new LiveCli(spawnCli(["proxy", "-a", "0.0.0.0:9000", "-s", z.path]));
    await open.waitForStdout("Press Ctrl+C to stop\n");
    open.proc.kill("SIGTERM");
    const result = await open.finish();
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(
      "zinit: WARNING: 0.0.0.0:9000 is reachable from other hosts, and the HTTP/RPC API has no " +
        "token (--token-file): anyone who can connect can create and run services as zinit's user (root)\n",
    );

    const local = new LiveCli(spawnCli(["proxy", "--address", "localhost:8081", "-s", z.path]));
    await local.waitForStdout("Press Ctrl+C to stop\n");
    local.proc.kill("SIGINT");
    expect((await local.finish()).stderr).toBe("");
    expect(z.calls).toEqual([
      { method: "system_http_access", params: [] },
      { method: "system_start_http_server", params: ["0.0.0.0:9000"] },
      { method: "system_stop_http_server", params: [] },
      { method: "system_http_access", params: [] },
      { method: "system_start_http_server", params: ["127.0.0.1:8081"] },
      { method: "system_stop_http_server", params: [] },
    ]);
  });

  test("--cors-origin, --allow-host and --token-file reach the daemon; a token silences the warning", async () => {
    const tokenFile = `${z0()}/token`;
    await Bun.write(tokenFile, "s3cret\n");
    let state = { address: null as string | null, token: false };
    const z = serve((req, conn) => {
      if (req.method === "system_http_access") {
        const change = (req.params as Record<string, unknown>[])[0];
        if (change?.token) state = { ...state, token: true };
        return conn.result(req.id, { ...state, cors_origins: [], allow_hosts: [] });
      }
      if (req.method === "system_start_http_server") {
        state = { ...state, address: "0.0.0.0:9000" };
        return conn.result(req.id, "HTTP/RPC server started at 0.0.0.0:9000");
      }
      conn.result(req.id, null);
    });
    const cli = new LiveCli(
      spawnCli([
        "proxy",
        "-a",
        "0.0.0.0:9000",
        "--cors-origin",
        "https://ui.example, http://localhost:3000",
        "--allow-host",
        "zinit.lan",
        "--token-file",
        tokenFile,
        "-s",
        z.path,
      ]),
    );
    await cli.waitForStdout("Press Ctrl+C to stop\n");
    cli.proc.kill("SIGINT");
    const result = await cli.finish();
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(z.calls).toEqual([
      {
        method: "system_http_access",
        params: [
          {
            cors_origins: ["https://ui.example", "http://localhost:3000"],
            allow_hosts: ["zinit.lan"],
            token: "s3cret",
          },
        ],
      },
      { method: "system_start_http_server", params: ["0.0.0.0:9000"] },
      { method: "system_http_access", params: [] },
      { method: "system_stop_http_server", params: [] },
    ]);
  });

  test("on exit, a server another proxy has put in its place is left running", async () => {
    let starts = 0;
    const z = serve((req, conn) => {
      if (req.method === "system_http_access") {
        // By the time this proxy exits, someone else's server runs on another port.
        const address = starts === 0 ? null : "127.0.0.1:9999";
        return conn.result(req.id, { address, token: false, cors_origins: [], allow_hosts: [] });
      }
      if (req.method === "system_start_http_server") {
        starts++;
        return conn.result(req.id, "HTTP/RPC server started at 127.0.0.1:8080");
      }
      conn.result(req.id, null);
    });
    const cli = new LiveCli(spawnCli(["-s", z.path, "proxy"]));
    await cli.waitForStdout("Press Ctrl+C to stop\n");
    cli.proc.kill("SIGINT");
    expect((await cli.finish()).code).toBe(0);
    expect(z.calls.map((c) => c.method)).toEqual([
      "system_http_access",
      "system_start_http_server",
      "system_http_access",
    ]);
  });

  test("flags an upstream daemon cannot honour are an error, not silently dropped", async () => {
    const z = serve(table({ system_start_http_server: "started" }));
    const result = await run(z, "proxy", "--cors-origin", "https://ui.example");
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "zinit: this zinit daemon does not support --cors-origin, --allow-host or a token (upstream zinit?)\n",
    );
    expect(z.calls.map((c) => c.method)).toEqual(["system_http_access"]);
  });

  test("a malformed address is refused before connecting", async () => {
    const z = serve(table({}));
    expect(await run(z, "proxy", "-a", "8080")).toEqual({
      stdout: "",
      stderr: "zinit: invalid address '8080': expected HOST:PORT, e.g. 127.0.0.1:8080\n",
      code: 1,
    });
    expect(z.calls).toEqual([]);
  });

  test("the daemon's refusal is reported", async () => {
    const z = serve(
      table({
        system_start_http_server: new RpcFailure(
          -32603,
          "starting http server: Address already in use (os error 98)",
        ),
      }),
    );
    const result = await run(z, "proxy");
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "zinit: starting http server: Address already in use (os error 98)\n",
    );
  });
});

describe("transport", () => {
  test("no daemon: one readable line, exit 1", async () => {
    const path = "/nonexistent-dir/zinit.sock";
    expect(await runCli(["-s", path, "list"])).toEqual({
      stdout: "",
      stderr: `zinit: cannot connect to ${path}: No such file or directory (is zinit init running?)\n`,
      code: 1,
    });
  });

  test("ZINIT_SOCKET is the default socket", async () => {
    const z = serve(table({ service_list: { a: "Running" } }));
    expect(await runCli(["list"], { ZINIT_SOCKET: z.path })).toEqual({
      stdout: "---\na: Running\n",
      stderr: "",
      code: 0,
    });
  });

  test("a legacy (<= 0.2.14) daemon is recognised", async () => {
    const z = serve((_req, conn) =>
      conn.send(
        '{"state":"error","body":"unknown command \'{\\"jsonrpc\\"\' or wrong arguments count"}\n',
      ),
    );
    expect(await run(z, "list")).toEqual({
      stdout: "",
      stderr: `zinit: ${z.path} speaks the legacy line protocol of zinit <= 0.2.14, not JSON-RPC\n`,
      code: 1,
    });
  });

  test("a reply split across writes, and a daemon that never answers", async () => {
    const z = serve((req, conn) => {
      if (req.method !== "service_list") return;
      const text = `${JSON.stringify({ jsonrpc: "2.0", id: req.id, result: { ü: "Running" } })}\n`;
      const bytes = new TextEncoder().encode(text);
      // Split inside the two-byte "ü" to check the decoder waits for whole lines.
      const cut = bytes.indexOf(0xc3) + 1;
      conn.send(bytes.subarray(0, cut));
      setTimeout(() => conn.send(bytes.subarray(cut)), 50);
    });
    expect(await run(z, "list")).toEqual({ stdout: "---\nü: Running\n", stderr: "", code: 0 });
    const silent = await runCli(["-s", z.path, "status", "x"], { ZINIT_TIMEOUT: "0.2" });
    expect(silent).toEqual({
      stdout: "",
      stderr: "zinit: no reply to service_status within 0.2 s\n",
      code: 1,
    });
  });

  test("--debug traces the traffic on stderr", async () => {
    const z = serve(table({ service_start: null }));
    const result = await run(z, "start", "svc", "-d");
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(
      '--> {"jsonrpc":"2.0","id":1,"method":"service_start","params":["svc"]}\n' +
        '<-- {"jsonrpc":"2.0","id":1,"result":null}\n',
    );
  });
});

describe("no daemon needed", () => {
  test("--version", async () => {
    expect(await runCli(["--version"])).toEqual({
      stdout: `${VERSION_LINE}\n`,
      stderr: "",
      code: 0,
    });
  });

  test("--help lists the verbs with upstream's descriptions", async () => {
    const result = await runCli(["--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("    status      show detailed service status\n");
    expect(result.stdout).toContain("    kill        send a signal to a running service.\n");
  });

  test("a usage error is one line and exit 1", async () => {
    expect(await runCli(["init", "-b", "lots"])).toEqual({
      stdout: "",
      stderr: "zinit: option -b/--buffer must be a positive integer (got 'lots')\n",
      code: 1,
    });
  });
});
