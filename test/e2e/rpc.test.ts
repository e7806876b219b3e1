// Every JSON-RPC method and its documented errors, over the unix socket of the compiled daemon
// running as PID 1 of a PID namespace, with real services behind each call.

import { expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import openrpc from "../../src/api/openrpc.json" with { type: "json" };
import { Conn, type Reply, TIMEOUT } from "../helpers/conn.ts";
import { AS_ROOT } from "../helpers/privilege.ts";
import {
  alreadyExists,
  data,
  HINT_DEFAULT,
  invalidContent,
  invalidName,
  invalidSignal,
  notFound,
  serviceDown,
} from "../helpers/rpc-errors.ts";
import { rawRequest, Zinit } from "../helpers/zinit.ts";
import { ask, freePort, listDir, nsPids, readText } from "./lib.ts";

setDefaultTimeout(60_000);

let z: Zinit;
/** Host directory the services write markers into (/tmp is shared with the namespace). */
let work: string;

/** A service that, on SIGUSR1, prints `got usr1` and appends to `<work>/<name>.usr1`. */
const trapper = (name: string) =>
  `exec: sh -c 'trap "echo got usr1; echo usr1 >> ${work}/${name}.usr1" USR1; while :; do sleep 1000 & wait; done'\n`;

AS_ROOT.beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "zinit-e2e-rpc-"));
  z = await Zinit.boot({
    services: {
      "echo.yaml": "exec: sh -c 'echo hello out; echo hello err >&2; exec sleep 1000'\n",
      "dep.yaml": "exec: sleep 1000\nafter: [echo]\n",
      "once.yaml": "exec: 'true'\noneshot: true\n",
      "sig.yaml": trapper("sig"),
      "sig2.yaml": trapper("sig2"),
      // Ready (a newline on fd 3) only once its trap is set, so a stop can never beat the trap.
      "slowstop.yaml":
        "exec: sh -c 'trap \"sleep 0.5; exit 0\" TERM; echo >&3; sleep 1000 & wait'\nnotify: fd:3\nshutdown_timeout: 10\n",
      "tree.yaml": `exec: sh -c '(sleep 1000 & echo $! > ${work}/grandchild; wait) & wait'\n`,
    },
  });
  for (const name of ["echo", "dep", "sig", "sig2", "slowstop", "tree"]) {
    await z.waitState(name, "Running");
  }
  await z.waitState("once", "Success");
}, 60_000);

AS_ROOT.afterAll(async () => {
  expect(await z.stop()).toBe(0);
  rmSync(work, { recursive: true, force: true });
});

AS_ROOT.describe("unix socket JSON-RPC against the running daemon", () => {
  test("rpc.discover returns the OpenRPC document as a JSON string", async () => {
    const reply = await ask(z.socket, "rpc.discover");
    expect(typeof reply.result).toBe("string");
    expect(JSON.parse(reply.result as string)).toEqual(openrpc);
  });

  test("service_list: every service with its state", async () => {
    expect(await z.rpc("service_list")).toEqual({
      dep: "Running",
      echo: "Running",
      once: "Success",
      sig: "Running",
      sig2: "Running",
      slowstop: "Running",
      tree: "Running",
    });
  });

  test("service_status: exact bytes, field order, dependency states", async () => {
    const pid = (await z.status("dep")).pid;
    expect(pid).toBeGreaterThan(1);
    expect(nsPids(z).get(pid)?.comm).toBe("sleep");
    const raw = await rawRequest(
      z.socket,
      '{"jsonrpc":"2.0","id":7,"method":"service_status","params":["dep"]}\n',
    );
    expect(raw).toBe(
      `{"jsonrpc":"2.0","result":{"name":"dep","pid":${pid},"state":"Running","target":"Up","after":{"echo":"Running"}},"id":7}\n`,
    );
    expect(await z.rpc("service_status", { name: "once" })).toEqual({
      name: "once",
      pid: 0,
      state: "Success",
      target: "Up",
      after: {},
    });
    expect((await ask(z.socket, "service_status", ["nope"])).error).toEqual(
      notFound("getting status", "nope"),
    );
  });

  test("service_stop returns only once the processes are gone; service_start brings it back", async () => {
    const before = (await z.status("slowstop")).pid;
    expect(nsPids(z).has(before)).toBe(true);
    const started = performance.now();
    expect(await z.rpc("service_stop", ["slowstop"])).toBeNull();
    // The service's TERM trap sleeps 0.5 s before exiting: the reply waited for it.
    expect(performance.now() - started).toBeGreaterThanOrEqual(450);
    expect(nsPids(z).has(before)).toBe(false);
    const stopped = await z.status("slowstop");
    expect(stopped).toMatchObject({ name: "slowstop", pid: 0, target: "Down" });
    // The trap exits 0, which is a clean end.
    expect(stopped.state).toBe("Success");

    expect(await z.rpc("service_start", ["slowstop"])).toBeNull();
    await z.waitState("slowstop", "Running");
    const after = (await z.status("slowstop")).pid;
    expect(after).not.toBe(before);
    expect(nsPids(z).has(after)).toBe(true);
    expect((await z.status("slowstop")).target).toBe("Up");

    expect((await ask(z.socket, "service_start", ["nope"])).error).toEqual(
      notFound("starting service", "nope"),
    );
    expect((await ask(z.socket, "service_stop", { name: "nope" })).error).toEqual(
      notFound("stopping service", "nope"),
    );
  });

  test("service_monitor: a new file in the config dir is loaded and runs; errors", async () => {
    writeFileSync(join(z.configDir, "late.yaml"), "exec: sleep 1000\n");
    expect(await z.rpc("service_monitor", ["late"])).toBeNull();
    await z.waitState("late", "Running");
    const pid = (await z.status("late")).pid;
    expect(nsPids(z).get(pid)?.comm).toBe("sleep");

    expect((await ask(z.socket, "service_monitor", ["late"])).error).toEqual({
      code: -32001,
      message: "monitoring service: service 'late' already monitored",
      data: data(
        "ServiceAlreadyMonitored",
        "monitoring service",
        "late",
        "The service is already monitored; call service_forget or control it with start/stop",
      ),
    });
    expect((await ask(z.socket, "service_monitor", ["ghost"])).error).toEqual({
      code: -32005,
      message: "monitoring service: failed to load 'ghost.yaml'",
      data: {
        ...data(
          "ConfigError",
          "loading service config",
          "ghost",
          "Verify the YAML file exists and is valid",
        ),
        cause_chain: [`${join(z.configDir, "ghost.yaml")}: no such file (nor ghost.yml)`],
      },
    });
    expect((await ask(z.socket, "service_monitor", ["../x"])).error).toEqual(
      invalidName("monitoring service", "../x"),
    );
    expect((await ask(z.socket, "service_monitor", ["a/b"])).error).toEqual(
      invalidName("monitoring service", "a/b"),
    );
    expect(Object.keys(await z.list())).not.toContain("ghost");
  });

  test("service_forget: refuses an up service, forgets a stopped one, then it is unknown", async () => {
    expect((await ask(z.socket, "service_forget", ["late"])).error).toEqual({
      code: -32002,
      message: "forgetting service: service 'late' is up",
      data: data(
        "ServiceIsUp",
        "forgetting service",
        "late",
        "Service is already up; use service_stop or restart",
      ),
    });
    const pid = (await z.status("late")).pid;
    await z.rpc("service_stop", ["late"]);
    expect(nsPids(z).has(pid)).toBe(false);
    expect(await z.rpc("service_forget", ["late"])).toBeNull();
    expect(Object.keys(await z.list())).not.toContain("late");
    expect((await ask(z.socket, "service_forget", ["late"])).error).toEqual(
      notFound("forgetting service", "late"),
    );
    // forget leaves the file alone.
    expect(listDir(z.configDir)).toContain("late.yaml");
  });

  test("service_kill: the signal reaches the service's processes", async () => {
    expect(await z.rpc("service_kill", ["sig", "SIGUSR1"])).toBeNull();
    await z.waitFor(() => readText(`${work}/sig.usr1`) === "usr1\n", TIMEOUT, "USR1 trap");
    expect(await z.rpc("service_kill", { name: "sig", signal: "sigusr1" })).toBeNull();
    await z.waitFor(() => readText(`${work}/sig.usr1`) === "usr1\nusr1\n", TIMEOUT, "second trap");
    expect(await z.list()).toMatchObject({ sig: "Running" });
  });

  test("service_kill errors: invalid signal first, unknown, down, invalid name", async () => {
    for (const [name, signal] of [
      ["sig", "SIGNOPE"],
      ["nope", "15"],
      ["a/b", "TERM"],
    ] as const) {
      expect((await ask(z.socket, "service_kill", [name, signal])).error).toEqual(
        invalidSignal(name, signal),
      );
    }
    expect((await ask(z.socket, "service_kill", ["nope", "SIGTERM"])).error).toEqual(
      notFound("sending signal", "nope"),
    );
    expect((await ask(z.socket, "service_kill", ["once", "SIGTERM"])).error).toEqual(
      serviceDown("sending signal", "once"),
    );
    expect((await ask(z.socket, "service_kill", ["../x", "SIGTERM"])).error).toEqual(
      invalidName("sending signal", "../x"),
    );
  });

  test("service_create writes validated, sorted YAML and does not monitor", async () => {
    const files = listDir(z.configDir);
    const content = { exec: "sleep 1000", after: ["echo"], env: { B: "2", A: "one" } };
    expect(await z.rpc("service_create", ["made", content])).toBe(
      "Service 'made' created successfully",
    );
    expect(readText(join(z.configDir, "made.yaml"))).toBe(
      '---\nafter:\n  - echo\nenv:\n  A: one\n  B: "2"\nexec: sleep 1000\n',
    );
    expect(listDir(z.configDir)).toEqual([...files, "made.yaml"].sort());
    expect(Object.keys(await z.list())).not.toContain("made");

    expect((await ask(z.socket, "service_create", ["made", { exec: "true" }])).error).toEqual(
      alreadyExists("made"),
    );
    expect(readText(join(z.configDir, "made.yaml"))).toContain("exec: sleep 1000\n");

    expect((await ask(z.socket, "service_create", ["bad", { test: "true" }])).error).toEqual(
      invalidContent("bad", "exec: missing exec directive"),
    );
    const badLog = await ask(z.socket, "service_create", ["bad", { exec: "x", log: "files" }]);
    expect(badLog.error?.code).toBe(-32005);
    expect(badLog.error?.message).toBe(
      'creating service: content: log: expected one of ring, stdout, none, file, got "files"',
    );
    for (const name of ["../x", "a/b"]) {
      expect((await ask(z.socket, "service_create", [name, { exec: "true" }])).error).toEqual(
        invalidName("creating service", name),
      );
    }
    expect(listDir(z.configDir)).toEqual([...files, "made.yaml"].sort());
    expect(listDir(work)).not.toContain("x.yaml");
  });

  test("service_get returns the file as JSON; errors", async () => {
    expect(await z.rpc("service_get", ["made"])).toEqual({
      exec: "sleep 1000",
      after: ["echo"],
      env: { A: "one", B: "2" },
    });
    expect(await z.rpc("service_get", { name: "dep" })).toEqual({
      exec: "sleep 1000",
      after: ["echo"],
    });
    expect((await ask(z.socket, "service_get", ["nope"])).error).toEqual({
      code: -32000,
      message: "getting service: Service 'nope' not found",
      data: data(
        "ServiceNotFound",
        "reading service file",
        "nope",
        "Ensure the service file exists",
      ),
    });
    expect((await ask(z.socket, "service_get", ["../x"])).error).toEqual(
      invalidName("getting service", "../x"),
    );
  });

  test("service_delete removes the file only; errors", async () => {
    expect(await z.rpc("service_delete", ["made"])).toBe("Service 'made' deleted successfully");
    expect(listDir(z.configDir)).not.toContain("made.yaml");
    expect((await ask(z.socket, "service_delete", ["made"])).error).toEqual({
      code: -32000,
      message: "deleting service: Service 'made' not found",
      data: data(
        "ServiceNotFound",
        "deleting service file",
        "made",
        "Ensure the service file exists",
      ),
    });
    expect((await ask(z.socket, "service_delete", ["a/b"])).error).toEqual(
      invalidName("deleting service", "a/b"),
    );
    // Deleting a monitored service's file leaves it monitored and running.
    expect(await z.rpc("service_delete", ["dep"])).toBe("Service 'dep' deleted successfully");
    expect((await z.list()).dep).toBe("Running");
  });

  test("service_stats: memory and the grandchild", async () => {
    await z.waitFor(
      () => /^\d+\n$/.test(readText(`${work}/grandchild`)),
      TIMEOUT,
      "grandchild pid",
    );
    const grandchild = Number(readText(`${work}/grandchild`));
    const pid = (await z.status("tree")).pid;
    const stats = (await z.rpc("service_stats", ["tree"])) as {
      name: string;
      pid: number;
      memory_usage: number;
      cpu_usage: number;
      children: { pid: number; memory_usage: number; cpu_usage: number }[];
    };
    expect(Object.keys(stats)).toEqual(["name", "pid", "memory_usage", "cpu_usage", "children"]);
    expect(stats.name).toBe("tree");
    expect(stats.pid).toBe(pid);
    expect(stats.memory_usage).toBeGreaterThan(0);
    expect(stats.cpu_usage).toBeGreaterThanOrEqual(0);
    // Main sh, a subshell, and the sleep it started: two children, one a grandchild.
    const procs = nsPids(z);
    const childPids = stats.children.map((c) => c.pid);
    expect(childPids.length).toBe(2);
    expect(childPids).toContain(grandchild);
    expect(procs.get(grandchild)?.comm).toBe("sleep");
    for (const c of stats.children) {
      expect(Object.keys(c)).toEqual(["pid", "memory_usage", "cpu_usage"]);
      expect(c.memory_usage).toBeGreaterThan(0);
    }
    expect((await ask(z.socket, "service_stats", ["once"])).error).toEqual(
      serviceDown("collecting stats", "once"),
    );
    expect((await ask(z.socket, "service_stats", ["nope"])).error).toEqual(
      notFound("collecting stats", "nope"),
    );
  });

  test("stream_currentLogs: exact lines of a service, filtered", async () => {
    const all = (await z.rpc("stream_currentLogs")) as string[];
    expect(all).toContain("[+] echo: hello out");
    expect(all).toContain("[-] echo: hello err");
    expect(all.some((l) => l.startsWith("[-] zinit: "))).toBe(true);
    const echo = (await z.rpc("stream_currentLogs", ["echo"])) as string[];
    expect([...echo].sort()).toEqual(
      [
        "[+] echo: hello out",
        "[-] echo: ------------ [start] ------------",
        "[-] echo: hello err",
      ].sort(),
    );
    expect(echo[0]).toBe("[-] echo: ------------ [start] ------------");
    expect(await z.rpc("stream_currentLogs", { name: "echo" })).toEqual(echo);
    expect((await ask(z.socket, "stream_currentLogs", ["a/b"])).error).toEqual(
      invalidName("getting logs", "a/b"),
    );
  });

  test("stream_subscribeLogs: a new line arrives; filter positional, `name`, `filter`", async () => {
    const all = new Conn(z.socket);
    const allSub = await all.call(1, "stream_subscribeLogs", []);
    expect(typeof allSub.result).toBe("number");
    for (const params of [["sig"], { name: "sig" }, { filter: "sig" }]) {
      const c = new Conn(z.socket);
      const sub = await c.call(2, "stream_subscribeLogs", params);
      expect(Number.isSafeInteger(sub.result)).toBe(true);
      // A line of another service first: the unfiltered subscriber proves it was logged.
      const seen = all.lines.length;
      await z.rpc("service_kill", ["sig2", "SIGUSR1"]);
      await all.find(
        (m) => m.params?.result === "[+] sig2: got usr1",
        "sig2's line on the unfiltered stream",
        seen,
      );
      await z.rpc("service_kill", ["sig", "SIGUSR1"]);
      const note = await c.find((m) => m.method !== undefined, "a notification");
      expect(note).toEqual({
        jsonrpc: "2.0",
        method: "stream_subscribeLogs",
        params: { subscription: sub.result as number, result: "[+] sig: got usr1" },
      });
      c.close();
    }
    all.close();
    expect((await ask(z.socket, "stream_subscribeLogs", ["../x"])).error).toEqual(
      invalidName("subscribing to logs", "../x"),
    );
  });

  test("stream_unsubscribeLogs: true, then false; no notifications after", async () => {
    const c = new Conn(z.socket);
    const all = new Conn(z.socket);
    const sub = await c.call(1, "stream_subscribeLogs", ["sig"]);
    await all.call(1, "stream_subscribeLogs", ["sig"]);
    expect((await c.call(2, "stream_unsubscribeLogs", [sub.result])).result).toBe(true);
    expect((await c.call(3, "stream_unsubscribeLogs", [sub.result])).result).toBe(false);
    await z.rpc("service_kill", ["sig", "SIGUSR1"]);
    await all.find((m) => m.params?.result === "[+] sig: got usr1", "the line elsewhere");
    // A round trip on the same connection: a notification sent before it would be here now.
    await c.call(4, "service_list");
    expect(c.messages.filter((m) => m.method !== undefined)).toEqual([]);
    c.close();
    all.close();
  });

  test("a default-parameter error: -32602 and an unknown method -32601", async () => {
    expect((await ask(z.socket, "service_status", [])).error).toEqual({
      code: -32602,
      message: "Invalid params",
      data: "No more params",
    });
    expect((await ask(z.socket, "no_such_method")).error).toEqual({
      code: -32601,
      message: "Method not found",
    });
  });

  test("stopping the http server when none runs", async () => {
    expect((await ask(z.socket, "system_stop_http_server")).error).toEqual({
      code: -32603,
      message: "stopping http server: No HTTP/RPC server is currently running",
      data: data("InternalError", "stopping http server", null, HINT_DEFAULT),
    });
  });
});

/** A WebSocket client on the daemon's HTTP server that waits for each reply by its id. */
async function wsClient(port: number) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  const replies = new Map<unknown, Reply>();
  let wake = () => {};
  ws.onmessage = (ev) => {
    const m = JSON.parse(String(ev.data)) as Reply;
    replies.set(m.id, m);
    wake();
  };
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("WebSocket error"));
  });
  return {
    async call(id: number, method: string, params: unknown): Promise<Reply> {
      ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
      const deadline = Date.now() + TIMEOUT;
      while (!replies.has(id)) {
        if (Date.now() > deadline) throw new Error(`no WebSocket reply to ${method}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 250);
        });
      }
      return replies.get(id) as Reply;
    },
    close: () => ws.close(),
  };
}

AS_ROOT.describe("HTTP and WebSocket server started through the socket", () => {
  const LIST = '{"jsonrpc":"2.0","id":1,"method":"service_list","params":{}}';
  const post = (base: string, body: string, type = "application/json", path = "any/path") =>
    fetch(`${base}/${path}`, { method: "POST", headers: { "content-type": type }, body });
  const refused = async (base: string) => {
    try {
      await post(base, LIST);
      return false;
    } catch {
      return true;
    }
  };

  test("start on 127.0.0.1:<port>, POST any path, content types, methods, CORS, batch", async () => {
    const port = freePort();
    const base = `http://127.0.0.1:${port}`;
    expect(await z.rpc("system_start_http_server", [`127.0.0.1:${port}`])).toBe(
      `HTTP/RPC server started at 127.0.0.1:${port}`,
    );
    const list = await z.list();
    for (const type of ["application/json", "application/json-rpc;charset=utf-8"]) {
      const res = await post(base, LIST, type);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
      // Upstream sent `*`; we send no CORS headers unless --cors-origin allows the origin.
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
      expect(await res.text()).toBe(JSON.stringify({ jsonrpc: "2.0", result: list, id: 1 }));
    }
    const bad = await post(base, LIST, "text/plain");
    expect(bad.status).toBe(415);
    expect(await bad.text()).toBe(
      "Supplied content type is not allowed. Content-Type: application/json is required",
    );
    const get = await fetch(`${base}/`);
    expect(get.status).toBe(405);
    expect(await get.text()).toBe("Used HTTP Method is not allowed. POST is required");
    const pre = await fetch(`${base}/`, {
      method: "OPTIONS",
      headers: {
        origin: "https://playground.open-rpc.org",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    // A page of another origin is refused (and told how to open it).
    expect(pre.status).toBe(403);
    expect(await pre.text()).toBe("Origin not allowed (zinit --cors-origin ORIGIN opens it)");

    const batch = await post(
      base,
      '[{"jsonrpc":"2.0","id":1,"method":"service_status","params":["once"]},{"jsonrpc":"2.0","id":2,"method":"service_stop","params":["nope"]},{"jsonrpc":"2.0","method":"service_list"}]',
    );
    expect(await batch.json()).toEqual([
      {
        jsonrpc: "2.0",
        result: { name: "once", pid: 0, state: "Success", target: "Up", after: {} },
        id: 1,
      },
      { jsonrpc: "2.0", error: notFound("stopping service", "nope"), id: 2 },
    ]);
    const sub = await post(base, '{"jsonrpc":"2.0","id":3,"method":"stream_subscribeLogs"}');
    expect(await sub.json()).toEqual({
      jsonrpc: "2.0",
      error: {
        code: -32603,
        message: "Internal error",
        data: "subscriptions need a WebSocket or the unix socket, not plain HTTP",
      },
      id: 3,
    });
  });

  test("localhost:<port> replaces the running server; WebSocket log subscription", async () => {
    const old = (await z.rpc("system_start_http_server", [`127.0.0.1:${freePort()}`])) as string;
    const oldBase = `http://${old.slice(old.lastIndexOf(" ") + 1)}`;
    expect((await post(oldBase, LIST)).status).toBe(200);

    const port = freePort();
    const started = (await z.rpc("system_start_http_server", {
      address: `localhost:${port}`,
    })) as string;
    expect(started).toMatch(
      new RegExp(`^HTTP/RPC server started at (127\\.0\\.0\\.1|\\[::1\\]):${port}$`),
    );
    const host = started.slice(started.lastIndexOf(" ") + 1);
    expect(await refused(oldBase)).toBe(true);
    expect((await post(`http://${host}`, LIST)).status).toBe(200);

    const ws = new WebSocket(`ws://${host}/some/path`);
    const got: Reply[] = [];
    let wake = () => {};
    ws.onmessage = (ev) => {
      got.push(JSON.parse(String(ev.data)) as Reply);
      wake();
    };
    const waitMsg = async (pred: (m: Reply) => boolean) => {
      const deadline = Date.now() + TIMEOUT;
      while (!got.some(pred)) {
        if (Date.now() > deadline)
          throw new Error(`no WebSocket message; got ${JSON.stringify(got)}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 250);
        });
      }
      return got.find(pred) as Reply;
    };
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("WebSocket error"));
    });
    ws.send('{"jsonrpc":"2.0","id":9,"method":"stream_subscribeLogs","params":["sig2"]}');
    const sub = await waitMsg((m) => m.id === 9);
    expect(Number.isSafeInteger(sub.result)).toBe(true);
    await z.rpc("service_kill", ["sig2", "SIGUSR1"]);
    expect(await waitMsg((m) => m.method !== undefined)).toEqual({
      jsonrpc: "2.0",
      method: "stream_subscribeLogs",
      params: { subscription: sub.result as number, result: "[+] sig2: got usr1" },
    });
    ws.close();

    expect(await z.rpc("system_stop_http_server")).toBeNull();
    expect(await refused(`http://${host}`)).toBe(true);
  });

  test("every method answers the same over the unix socket, HTTP and WebSocket", async () => {
    const calls: [string, unknown][] = [
      ["rpc.discover", []],
      ["service_list", {}],
      ["service_status", ["once"]],
      ["service_status", ["nope"]],
      ["service_status", []],
      ["service_start", ["nope"]],
      ["service_stop", ["nope"]],
      ["service_monitor", ["once"]],
      ["service_monitor", ["ghost"]],
      ["service_monitor", ["../x"]],
      ["service_forget", ["sig"]],
      ["service_forget", ["nope"]],
      ["service_kill", ["sig", "SIGNOPE"]],
      ["service_kill", ["nope", "SIGTERM"]],
      ["service_kill", ["once", "SIGTERM"]],
      ["service_kill", ["a/b", "SIGTERM"]],
      ["service_create", ["once", { exec: "true" }]],
      ["service_create", ["bad", { test: "true" }]],
      ["service_create", ["../x", { exec: "true" }]],
      ["service_get", ["once"]],
      ["service_get", ["nope"]],
      ["service_delete", ["nope"]],
      ["service_delete", ["a/b"]],
      ["service_stats", ["once"]],
      ["service_stats", ["nope"]],
      ["system_start_http_server", ["localhost"]],
      ["stream_currentLogs", ["once"]],
      ["stream_currentLogs", ["a/b"]],
      ["no_such_method", []],
    ];
    const port = freePort();
    await z.rpc("system_start_http_server", [`127.0.0.1:${port}`]);
    const ws = await wsClient(port);
    for (const [i, [method, params]] of calls.entries()) {
      const body = JSON.stringify({ jsonrpc: "2.0", id: i, method, params });
      const unix = await ask(z.socket, method, params);
      const http = (await (await post(`http://127.0.0.1:${port}`, body)).json()) as Reply;
      const viaWs = await ws.call(i, method, params);
      const label = `${method} ${JSON.stringify(params)}`;
      expect({ label, reply: http }).toEqual({ label, reply: { ...unix, id: i } });
      expect({ label, reply: viaWs }).toEqual({ label, reply: { ...unix, id: i } });
    }
    ws.close();
    expect(await z.rpc("system_stop_http_server")).toBeNull();
  });

  test("a service's whole life through HTTP, and through WebSocket", async () => {
    const port = freePort();
    await z.rpc("system_start_http_server", [`127.0.0.1:${port}`]);
    let id = 0;
    const viaHttp = async (method: string, params: unknown) => {
      const body = JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params });
      return (await (await post(`http://127.0.0.1:${port}`, body)).json()) as Reply;
    };
    const ws = await wsClient(port);
    const viaWs = (method: string, params: unknown) => ws.call(++id, method, params);
    for (const [name, via] of [
      ["viahttp", viaHttp],
      ["viaws", viaWs],
    ] as const) {
      const ok = async (method: string, params: unknown) => {
        const reply = await via(method, params);
        expect({ method, error: reply.error }).toEqual({ method, error: undefined });
        return reply.result;
      };
      expect(await ok("service_create", [name, { exec: "sleep 1000" }])).toBe(
        `Service '${name}' created successfully`,
      );
      expect(await ok("service_get", [name])).toEqual({ exec: "sleep 1000" });
      expect(await ok("service_monitor", [name])).toBeNull();
      await z.waitState(name, "Running");
      const pid = ((await ok("service_status", [name])) as { pid: number }).pid;
      expect(nsPids(z).get(pid)?.comm).toBe("sleep");
      expect(await ok("service_kill", [name, "SIGCONT"])).toBeNull();
      expect(((await ok("service_stats", [name])) as { pid: number }).pid).toBe(pid);
      expect(await ok("service_stop", [name])).toBeNull();
      expect(nsPids(z).has(pid)).toBe(false);
      expect(await ok("service_start", [name])).toBeNull();
      await z.waitState(name, "Running");
      expect(await ok("service_stop", [name])).toBeNull();
      expect(await ok("service_forget", [name])).toBeNull();
      expect(await ok("service_delete", [name])).toBe(`Service '${name}' deleted successfully`);
      expect(Object.keys(await z.list())).not.toContain(name);
      expect(listDir(z.configDir)).not.toContain(`${name}.yaml`);
    }
    ws.close();
    expect(await z.rpc("system_stop_http_server")).toBeNull();
  });

  test("start errors: bad address, port in use", async () => {
    expect((await ask(z.socket, "system_start_http_server", ["localhost"])).error).toEqual({
      code: -32603,
      message: "starting http server: Failed to parse socket address",
      data: {
        ...data("InternalError", "starting http server", null, HINT_DEFAULT),
        cause_chain: ["invalid socket address syntax"],
      },
    });
    const holder = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const reply = await ask(z.socket, "system_start_http_server", [`127.0.0.1:${holder.port}`]);
      expect(reply.error?.code).toBe(-32603);
      expect(reply.error?.message).toBe(
        "starting http server: Address already in use (os error 98)",
      );
    } finally {
      holder.stop(true);
    }
    expect((await ask(z.socket, "system_stop_http_server")).error?.code).toBe(-32603);
  });
});
