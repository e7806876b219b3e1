// The method table over the real daemon and the fake Sys: params, results and error objects of
// every method, and what reached the daemon (its call log) or never did.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiError, type RpcErrorObject } from "../../src/api/errors.ts";
import { OPENRPC_TEXT } from "../../src/api/methods.ts";
import openrpc from "../../src/api/openrpc.json" with { type: "json" };
import { ServiceStore } from "../../src/config/store.ts";
import { type TestDaemon, testDaemon } from "../helpers/daemon.ts";
import { pushLine } from "../helpers/lines.ts";
import {
  alreadyExists,
  data,
  HINT_DEFAULT,
  HINT_SHUTDOWN,
  invalidContent,
  invalidName,
  invalidSignal,
  notFound,
  serviceDown,
  shuttingDownError,
} from "../helpers/rpc-errors.ts";

let t: TestDaemon;
/** The daemon's config directory. */
let dir: string;

beforeEach(async () => {
  t = await testDaemon({ load: false });
  dir = t.configDir;
});

afterEach(() => {
  t.close();
});

type Outcome = { result: unknown } | { error: RpcErrorObject };

/** Calls a method of the table, driving the fake system until it answers. */
async function call(method: string, params?: unknown): Promise<Outcome> {
  const def = t.table.get(method);
  if (def?.kind !== "call") throw new Error(`${method} is not a call method`);
  try {
    return { result: await t.settle(def.call(params)) };
  } catch (err) {
    if (err instanceof ApiError) return { error: err.toJSON() };
    throw err;
  }
}

const PAGE_SIZE = 4096;
const SIGHUP = 1;
const SIGUSR1 = 10;
const SIGTERM = 15;

/** Monitors `name` running `program` (default: its name), as pid `pid` when given. */
async function running(name: string, opts: { pid?: number; yaml?: string } = {}) {
  t.write(name, opts.yaml ?? `exec: ${name}\n`);
  if (opts.pid !== undefined) t.sys.nextPid = opts.pid;
  await t.daemon.monitor(name);
  await t.sys.flush();
}

/** The live process running `program` exits with `code`, and the daemon sees it. */
async function exits(program: string, code: number): Promise<void> {
  t.sys.exit(t.sys.find(program).pid, { kind: "exited", code });
  await t.sys.flush();
}

/** A oneshot that ran and exited 0: Success, pid 0; with `stop`, its target is Down too. */
async function succeeded(name: string, opts: { stop?: boolean } = {}): Promise<void> {
  await running(name, { yaml: `exec: ${name}-job\noneshot: true\n` });
  await exits(`${name}-job`, 0);
  if (opts.stop) await t.settle(t.daemon.stop(name));
}

/** A service stopped after running: pid 0, target Down. */
async function stopped(name: string): Promise<void> {
  await running(name);
  await t.settle(t.daemon.stop(name));
}

/** Empties the call log, so it shows only what the test itself asks of the daemon. */
const clearCalls = () => {
  t.calls.length = 0;
};

const HINT_FILE = "Check permissions and filesystem availability";

/** The cancel function of a started subscription. */
const cancelOf = (started: (() => void) | { cancel: () => void }) =>
  typeof started === "function" ? started : started.cancel;

describe("params", () => {
  test("positional and named forms give the same result", async () => {
    await running("redis", { pid: 42 });
    const want = {
      result: { name: "redis", pid: 42, state: "Running", target: "Up", after: {} },
    };
    expect(await call("service_status", ["redis"])).toEqual(want);
    expect(await call("service_status", { name: "redis" })).toEqual(want);
  });

  test("extra positional params and unknown named keys are ignored", async () => {
    await running("redis", { pid: 42 });
    const out = await call("service_status", ["redis", 1, "x"]);
    expect(out).toEqual({
      result: { name: "redis", pid: 42, state: "Running", target: "Up", after: {} },
    });
    expect(await call("service_status", { name: "redis", bogus: 1 })).toEqual(out);
  });

  test("a missing required param: No more params / missing field", async () => {
    const noMore = { error: { code: -32602, message: "Invalid params", data: "No more params" } };
    expect(await call("service_status")).toEqual(noMore);
    expect(await call("service_status", null)).toEqual(noMore);
    expect(await call("service_status", [])).toEqual(noMore);
    expect(await call("service_kill", ["redis"])).toEqual(noMore);
    expect(await call("service_status", {})).toEqual({
      error: { code: -32602, message: "Invalid params", data: "missing field `name`" },
    });
    expect(await call("service_kill", { name: "redis" })).toEqual({
      error: { code: -32602, message: "Invalid params", data: "missing field `signal`" },
    });
    expect(await call("service_create", { name: "x" })).toEqual({
      error: { code: -32602, message: "Invalid params", data: "missing field `content`" },
    });
    expect(t.calls).toEqual([]);
  });

  test("a wrong type gives serde's message", async () => {
    const typeErr = (what: string, expected = "a string") => ({
      error: {
        code: -32602,
        message: "Invalid params",
        data: `invalid type: ${what}, expected ${expected}`,
      },
    });
    expect(await call("service_status", [5])).toEqual(typeErr("integer `5`"));
    expect(await call("service_status", [1.5])).toEqual(typeErr("floating point `1.5`"));
    expect(await call("service_status", [true])).toEqual(typeErr("boolean `true`"));
    expect(await call("service_status", [null])).toEqual(typeErr("null"));
    expect(await call("service_status", [["a"]])).toEqual(typeErr("sequence"));
    expect(await call("service_status", { name: { a: 1 } })).toEqual(typeErr("map"));
    expect(await call("service_create", ["x", "exec: true"])).toEqual(
      typeErr('string "exec: true"', "a map"),
    );
    expect(await call("service_create", ["x", ["exec"]])).toEqual(typeErr("sequence", "a map"));
    expect(await call("service_status", "redis")).toEqual(
      typeErr('string "redis"', "an array or an object"),
    );
  });

  test("methods without params ignore whatever is sent", async () => {
    await succeeded("a");
    for (const params of [undefined, null, [], {}, ["x"], { y: 1 }, 7]) {
      expect(await call("service_list", params)).toEqual({ result: { a: "Success" } });
    }
  });
});

describe("rpc.discover", () => {
  test("returns the OpenRPC document as a JSON string", async () => {
    const out = (await call("rpc.discover")) as { result: unknown };
    expect(typeof out.result).toBe("string");
    expect(out.result).toBe(OPENRPC_TEXT);
    expect(JSON.parse(out.result as string)).toEqual(openrpc);
  });
});

describe("service_list / service_status", () => {
  test("list maps names to state strings", async () => {
    await running("a");
    await running("b", { pid: 77, yaml: "exec: b\noneshot: true\n" });
    await exits("b", 1);
    await t.settle(t.daemon.stop("b"));
    expect(t.daemon.status("b")).toMatchObject({ pid: 0, target: "Down" });
    expect(await call("service_list")).toEqual({
      result: { a: "Running", b: "Error(Exited(Pid(77), 1))" },
    });
  });

  test("status: key order, dependency states, Unknown for an unmonitored dependency", async () => {
    await succeeded("db");
    await running("cache");
    await running("web", { pid: 1234, yaml: "exec: web\nafter: [db, cache]\n" });
    // cache goes away after web started: web keeps running, and knows cache no more.
    await t.settle(t.daemon.stop("cache"));
    t.daemon.forget("cache");
    const out = (await call("service_status", ["web"])) as { result: unknown };
    expect(JSON.stringify(out.result)).toBe(
      '{"name":"web","pid":1234,"state":"Running","target":"Up","after":{"db":"Success","cache":"Unknown"}}',
    );
  });

  test("status of an unknown service", async () => {
    expect(await call("service_status", ["nope"])).toEqual({
      error: notFound("getting status", "nope"),
    });
  });

  test("invalid names are refused before the daemon is asked", async () => {
    expect(await call("service_status", ["a/b"])).toEqual({
      error: invalidName("getting status", "a/b", "must not contain '/'"),
    });
    expect(await call("service_status", [""])).toEqual({
      error: invalidName("getting status", "", "must not be empty"),
    });
    expect(await call("service_status", [".."])).toEqual({
      error: invalidName("getting status", "..", "must not be '..'"),
    });
    expect(await call("service_status", ["a\\b"])).toEqual({
      error: invalidName("getting status", "a\\b", "must not contain '\\'"),
    });
    expect(await call("service_status", ["a\nb"])).toEqual({
      error: invalidName("getting status", "a\nb", "must not contain control characters"),
    });
    expect(t.calls).toEqual([]);
  });

  test("dots are fine in names (unlike upstream)", async () => {
    await running("my.svc", { pid: 9 });
    expect(await call("service_status", ["my.svc"])).toEqual({
      result: { name: "my.svc", pid: 9, state: "Running", target: "Up", after: {} },
    });
  });
});

describe("service_start / service_stop / service_forget", () => {
  test("start sets the target and answers null", async () => {
    await succeeded("a", { stop: true });
    expect(t.daemon.status("a")).toMatchObject({ pid: 0, target: "Down", state: "Success" });
    clearCalls();
    expect(await call("service_start", ["a"])).toEqual({ result: null });
    expect(t.calls).toEqual([{ method: "start", args: ["a"] }]);
    expect(t.daemon.status("a").target).toBe("Up");
  });

  test("start errors: not found, shutting down", async () => {
    expect(await call("service_start", ["x"])).toEqual({
      error: notFound("starting service", "x"),
    });
    await running("a");
    t.daemon.shutdown(false);
    expect(await call("service_start", ["a"])).toEqual({
      error: shuttingDownError("starting service", "a"),
    });
  });

  test("stop answers only once the daemon's stop has finished", async () => {
    await running("a", { pid: 55 });
    // It ignores the stop signal: the stop goes on until the process is gone.
    t.sys.find("a").reactions.set(SIGTERM, "ignore");
    const def = t.table.get("service_stop");
    if (def?.kind !== "call") throw new Error("no service_stop");
    let answered = false;
    const pending = def.call(["a"]).then((result) => {
      answered = true;
      return result;
    });
    await t.sys.flush();
    expect(answered).toBe(false);
    expect(t.sys.find("a").signals).toEqual([SIGTERM]);
    expect(t.daemon.status("a").target).toBe("Down");
    t.sys.exit(55, { kind: "exited", code: 0 });
    expect(await t.settle(pending)).toBeNull();
    expect(t.daemon.status("a").pid).toBe(0);
  });

  test("stop of an unknown service", async () => {
    expect(await call("service_stop", { name: "x" })).toEqual({
      error: notFound("stopping service", "x"),
    });
  });

  test("forget: removes a stopped service; refuses an up one and an unknown one", async () => {
    await running("up");
    await stopped("down");
    expect(await call("service_forget", ["up"])).toEqual({
      error: {
        code: -32002,
        message: "forgetting service: service 'up' is up",
        data: data(
          "ServiceIsUp",
          "forgetting service",
          "up",
          "Service is already up; use service_stop or restart",
        ),
      },
    });
    expect(await call("service_forget", ["down"])).toEqual({ result: null });
    expect(Object.keys(t.daemon.list())).toEqual(["up"]);
    expect(await call("service_forget", ["down"])).toEqual({
      error: notFound("forgetting service", "down"),
    });
  });

  test("an unexpected failure inside the daemon is -32603 with the cause chain", async () => {
    await running("a");
    t.sys.clockFault = new Error("boom", { cause: new Error("deeper") });
    expect(await call("service_stop", ["a"])).toEqual({
      error: {
        code: -32603,
        message: "stopping service: boom",
        data: {
          ...data("InternalError", "stopping service", "a", HINT_DEFAULT),
          cause_chain: ["deeper"],
        },
      },
    });
    // Nothing was stopped, and the daemon goes on.
    expect(t.daemon.status("a")).toMatchObject({ state: "Running", target: "Up" });
    expect(await call("service_stop", ["a"])).toEqual({ result: null });
  });
});

describe("service_monitor", () => {
  test("loads the file and monitors the service", async () => {
    writeFileSync(join(dir, "web.yaml"), "exec: /bin/web\nafter: [db]\n");
    expect(await call("service_monitor", ["web"])).toEqual({ result: null });
    expect(t.daemon.status("web")).toMatchObject({ state: "Blocked", after: { db: "Unknown" } });
  });

  test("a missing or invalid file is -32005 with the reason in cause_chain", async () => {
    const out = (await call("service_monitor", ["nope"])) as { error: RpcErrorObject };
    expect(out.error.code).toBe(-32005);
    expect(out.error.message).toBe("monitoring service: failed to load 'nope.yaml'");
    expect(out.error.data).toEqual({
      ...data(
        "ConfigError",
        "loading service config",
        "nope",
        "Verify the YAML file exists and is valid",
      ),
      cause_chain: [`${join(dir, "nope.yaml")}: no such file (nor nope.yml)`],
    });
  });

  test("already monitored is -32001 and retryable", async () => {
    await running("a");
    expect(await call("service_monitor", ["a"])).toEqual({
      error: {
        code: -32001,
        message: "monitoring service: service 'a' already monitored",
        data: data(
          "ServiceAlreadyMonitored",
          "monitoring service",
          "a",
          "The service is already monitored; call service_forget or control it with start/stop",
        ),
      },
    });
  });

  test("shutting down, and invalid names", async () => {
    t.write("a", "exec: a\n");
    t.daemon.shutdown(true);
    expect(await call("service_monitor", ["a"])).toEqual({
      error: shuttingDownError("monitoring service", "a"),
    });
    expect(await call("service_monitor", ["../etc/x"])).toEqual({
      error: invalidName("monitoring service", "../etc/x", "must not contain '/'"),
    });
  });
});

describe("service_kill", () => {
  test("sends the signal", async () => {
    await running("a");
    const p = t.sys.find("a");
    p.reactions.set(SIGUSR1, "ignore");
    p.reactions.set(SIGHUP, "ignore");
    expect(await call("service_kill", ["a", "sigusr1"])).toEqual({ result: null });
    expect(await call("service_kill", { name: "a", signal: "SIGHUP" })).toEqual({ result: null });
    expect(p.signals).toEqual([SIGUSR1, SIGHUP]);
  });

  test("the signal is checked first, even for an unknown service or a bad name", async () => {
    await running("a");
    clearCalls();
    for (const [name, signal] of [
      ["a", "TERM"],
      ["missing", "15"],
      ["a/b", "SIGNOPE"],
    ] as const) {
      expect(await call("service_kill", [name, signal])).toEqual({
        error: invalidSignal(name, signal),
      });
    }
    expect(t.calls).toEqual([]);
  });

  test("unknown, down, invalid name, and an OS error", async () => {
    expect(await call("service_kill", ["x", "SIGTERM"])).toEqual({
      error: notFound("sending signal", "x"),
    });
    await stopped("down");
    expect(await call("service_kill", ["down", "SIGTERM"])).toEqual({
      error: serviceDown("sending signal", "down"),
    });
    expect(await call("service_kill", ["a/b", "SIGTERM"])).toEqual({
      error: invalidName("sending signal", "a/b", "must not contain '/'"),
    });
    await running("a");
    // The process moved to another process group: kill(-pid) finds nobody (ESRCH).
    t.sys.find("a").pgid = 9999;
    expect(await call("service_kill", ["a", "SIGTERM"])).toEqual({
      error: {
        code: -32603,
        message: "sending signal: ESRCH: No such process",
        data: data("InternalError", "sending signal", "a", HINT_DEFAULT),
      },
    });
  });
});

describe("service_create", () => {
  test("writes sorted YAML with a --- header, atomically, and does not monitor", async () => {
    const content = {
      exec: "/bin/redis-server --port 7777",
      shutdown_timeout: 5,
      after: ["net", "disk"],
      env: { ZED: "1", ALPHA: "two words" },
      oneshot: false,
      log: "stdout",
    };
    expect(await call("service_create", ["redis", content])).toEqual({
      result: "Service 'redis' created successfully",
    });
    expect(readFileSync(join(dir, "redis.yaml"), "utf8")).toBe(
      [
        "---",
        "after:",
        "  - net",
        "  - disk",
        "env:",
        "  ALPHA: two words",
        '  ZED: "1"',
        "exec: /bin/redis-server --port 7777",
        "log: stdout",
        "oneshot: false",
        "shutdown_timeout: 5",
        "",
      ].join("\n"),
    );
    expect(statSync(join(dir, "redis.yaml")).mode & 0o777).toBe(0o644);
    // No temp file left behind, nothing monitored.
    expect(readdirSync(dir)).toEqual(["redis.yaml"]);
    expect(t.calls).toEqual([]);
    expect(t.daemon.list()).toEqual({});
    // What was written loads back as the same service.
    const loaded = new ServiceStore(dir).load("redis").config;
    expect(loaded.argv).toEqual(["/bin/redis-server", "--port", "7777"]);
    expect(loaded.env).toEqual({ ALPHA: "two words", ZED: "1" });
    expect(loaded.shutdownTimeout).toBe(5);
    expect(loaded.after).toEqual(["net", "disk"]);
    expect(loaded.log).toBe("stdout");
  });

  test("long and multi-line strings survive the round trip", async () => {
    const exec = `/bin/sh -c "${"x".repeat(200)}"`;
    const content = { exec, env: { MULTI: "line one\nline two", QUOTE: 'it\'s "quoted": yes' } };
    expect(await call("service_create", ["long", content])).toEqual({
      result: "Service 'long' created successfully",
    });
    expect((await call("service_get", ["long"])) as unknown).toEqual({ result: content });
  });

  test("never overwrites an existing .yaml or .yml", async () => {
    writeFileSync(join(dir, "a.yaml"), "exec: /bin/old\n");
    writeFileSync(join(dir, "b.yml"), "exec: /bin/old\n");
    for (const name of ["a", "b"]) {
      expect(await call("service_create", [name, { exec: "/bin/new" }])).toEqual({
        error: alreadyExists(name),
      });
    }
    expect(readFileSync(join(dir, "a.yaml"), "utf8")).toBe("exec: /bin/old\n");
    expect(readdirSync(dir).sort()).toEqual(["a.yaml", "b.yml"]);
  });

  test("concurrent creates of one name: exactly one wins", async () => {
    const outs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => call("service_create", ["race", { exec: `/bin/v${i}` }])),
    );
    const wins = outs.filter((o) => "result" in o);
    const losses = outs.filter((o) => "error" in o && o.error.code === -32007);
    expect(wins.length).toBe(1);
    expect(losses.length).toBe(7);
    expect(readFileSync(join(dir, "race.yaml"), "utf8")).toMatch(/^---\nexec: \/bin\/v\d\n$/);
    expect(readdirSync(dir)).toEqual(["race.yaml"]);
  });

  test("content is validated like a service file: -32005 with the reason", async () => {
    expect(await call("service_create", ["bad", { test: "/bin/true" }])).toEqual({
      error: invalidContent("bad", "exec: missing exec directive"),
    });
    const out = (await call("service_create", ["bad", { exec: "/bin/x", log: "files" }])) as {
      error: RpcErrorObject;
    };
    expect(out.error.code).toBe(-32005);
    expect(out.error.message).toBe(
      'creating service: content: log: expected one of ring, stdout, none, file, got "files"',
    );
    // The keys beyond upstream are checked too, together.
    expect(
      await call("service_create", ["bad", { exec: "/bin/x", oneshot: true, restart: "always" }]),
    ).toEqual({
      error: invalidContent(
        "bad",
        "restart: 'always' contradicts oneshot: true (use on-failure or never)",
      ),
    });
    expect(readdirSync(dir)).toEqual([]);
  });

  test("content with unknown keys is written as given and the reply is upstream's", async () => {
    const content = { exec: "/bin/x", shutdown_timout: 3 };
    expect(await call("service_create", ["typo", content])).toEqual({
      result: "Service 'typo' created successfully",
    });
    expect(readFileSync(join(dir, "typo.yaml"), "utf8")).toBe(
      "---\nexec: /bin/x\nshutdown_timout: 3\n",
    );
  });

  test("refused once a shutdown has begun: -32006, nothing written", async () => {
    await running("a");
    t.daemon.shutdown(false);
    expect(await call("service_create", ["late", { exec: "/bin/x" }])).toEqual({
      error: shuttingDownError("creating service", "late"),
    });
    expect(readdirSync(dir)).toEqual(["a.yaml"]);
  });

  test("invalid names never touch the disk", async () => {
    expect(await call("service_create", ["../evil", { exec: "/bin/x" }])).toEqual({
      error: invalidName("creating service", "../evil", "must not contain '/'"),
    });
    expect(await call("service_create", ["", { exec: "/bin/x" }])).toEqual({
      error: invalidName("creating service", "", "must not be empty"),
    });
    expect(readdirSync(dir)).toEqual([]);
  });

  test("an unwritable directory is -32008 with the OS error", async () => {
    rmSync(dir, { recursive: true });
    expect(await call("service_create", ["x", { exec: "/bin/x" }])).toEqual({
      error: {
        code: -32008,
        message: "creating service file: failed to create service file",
        data: {
          ...data("ServiceFileError", "creating service file", "x", HINT_FILE),
          cause_chain: ["ENOENT: no such file or directory"],
        },
      },
    });
  });
});

describe("service_delete / service_get", () => {
  test("get returns the file as JSON, .yaml first, then .yml", async () => {
    writeFileSync(
      join(dir, "a.yaml"),
      "exec: /bin/a\nshutdown_timeout: 10\noneshot: true\nafter:\n  - b\nenv: {K: v}\n",
    );
    writeFileSync(join(dir, "b.yml"), "exec: /bin/b\n");
    expect(await call("service_get", ["a"])).toEqual({
      result: {
        exec: "/bin/a",
        shutdown_timeout: 10,
        oneshot: true,
        after: ["b"],
        env: { K: "v" },
      },
    });
    expect(await call("service_get", { name: "b" })).toEqual({ result: { exec: "/bin/b" } });
  });

  test("get: an empty or comment-only file is the loader's ConfigError; a null document is null", async () => {
    const parseFailure = (name: string, cause: string) => ({
      error: {
        code: -32005,
        message: "getting service: failed to parse YAML",
        data: {
          ...data("ConfigError", "parsing service file", name, "Ensure the YAML is valid"),
          cause_chain: [cause],
        },
      },
    });
    writeFileSync(join(dir, "empty.yaml"), "");
    writeFileSync(join(dir, "comments.yaml"), "# exec: not yet\n\n# nothing else\n");
    writeFileSync(join(dir, "dashes.yaml"), "---\n");
    writeFileSync(join(dir, "tilde.yaml"), "~\n");
    // Where the document (which lacks exec) starts: after a `---`, if there is one.
    const starts: [string, string][] = [
      ["empty", "1:1"],
      ["comments", "1:1"],
      ["dashes", "1:4"],
    ];
    for (const [name, at] of starts) {
      expect(await call("service_get", [name])).toEqual(
        parseFailure(name, `${join(dir, name)}.yaml:${at}: exec: missing exec directive`),
      );
    }
    // A document that is explicitly null is a value, as upstream converts it.
    expect(await call("service_get", ["tilde"])).toEqual({ result: null });
  });

  test("get: not found; dangling symlink; bad YAML; unreadable", async () => {
    const nf = (name: string) => ({
      error: {
        code: -32000,
        message: `getting service: Service '${name}' not found`,
        data: data(
          "ServiceNotFound",
          "reading service file",
          name,
          "Ensure the service file exists",
        ),
      },
    });
    expect(await call("service_get", ["nope"])).toEqual(nf("nope"));
    symlinkSync(join(dir, "target-missing"), join(dir, "dangling.yaml"));
    expect(await call("service_get", ["dangling"])).toEqual(nf("dangling"));

    writeFileSync(join(dir, "broken.yaml"), "exec: [unclosed\n");
    const broken = (await call("service_get", ["broken"])) as { error: RpcErrorObject };
    expect(broken.error.code).toBe(-32005);
    expect(broken.error.message).toBe("getting service: failed to parse YAML");
    expect(broken.error.data).toEqual({
      ...data("ConfigError", "parsing service file", "broken", "Ensure the YAML is valid"),
      cause_chain: [
        `${join(dir, "broken.yaml")}:2:1: Flow sequence in block collection must be sufficiently indented and end with a ]`,
      ],
    });

    mkdirSync(join(dir, "adir.yaml"));
    expect(await call("service_get", ["adir"])).toEqual({
      error: {
        code: -32008,
        message: "reading service file: failed to read service file",
        data: {
          ...data("ServiceFileError", "reading service file", "adir", HINT_FILE),
          cause_chain: ["not a regular file"],
        },
      },
    });
    expect(await call("service_get", ["a/b"])).toEqual({
      error: invalidName("getting service", "a/b", "must not contain '/'"),
    });
  });

  test("get: alias bombs are refused", async () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 0; i < 8; i++) {
      const prev = String.fromCharCode(97 + i);
      const next = String.fromCharCode(98 + i);
      lines.push(`${next}: &${next} [${Array(10).fill(`*${prev}`).join(",")}]`);
    }
    writeFileSync(join(dir, "bomb.yaml"), `${lines.join("\n")}\n`);
    const out = (await call("service_get", ["bomb"])) as { error: RpcErrorObject };
    expect(out.error.code).toBe(-32005);
    expect(out.error.message).toBe("getting service: failed to convert YAML to JSON");
  });

  test("delete removes both spellings and leaves the service monitored", async () => {
    writeFileSync(join(dir, "a.yaml"), "exec: /bin/a\n");
    writeFileSync(join(dir, "a.yml"), "exec: /bin/a\n");
    writeFileSync(join(dir, "other.yaml"), "exec: /bin/o\n");
    await t.daemon.monitor("a");
    await t.sys.flush();
    expect(await call("service_delete", ["a"])).toEqual({
      result: "Service 'a' deleted successfully",
    });
    expect(readdirSync(dir)).toEqual(["other.yaml"]);
    expect(t.daemon.list()).toEqual({ a: "Running" });
    expect(await call("service_delete", ["a"])).toEqual({
      error: {
        code: -32000,
        message: "deleting service: Service 'a' not found",
        data: data(
          "ServiceNotFound",
          "deleting service file",
          "a",
          "Ensure the service file exists",
        ),
      },
    });
    expect(await call("service_delete", [".."])).toEqual({
      error: invalidName("deleting service", "..", "must not be '..'"),
    });
  });
});

describe("service_stats", () => {
  /** Resident bytes of a real process, as /proc/<pid>/statm says now. */
  const rss = (pid: number) =>
    Number(readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]) * PAGE_SIZE;

  test("shape and key order, read from /proc for the service's processes", async () => {
    // The fake processes carry the pids of two real, idle ones, so /proc has something to say.
    const sleepers = [0, 1].map(() =>
      Bun.spawn(["sleep", "100"], { stdio: ["ignore", "ignore", "ignore"] }),
    );
    try {
      const [main, child] = sleepers.map((p) => p.pid) as [number, number];
      await running("a", { pid: main });
      t.sys.nextPid = child;
      t.sys.fork(main);
      const out = (await call("service_stats", ["a"])) as { result: Record<string, unknown> };
      interface Proc {
        pid: number;
        memory_usage: number;
        cpu_usage: number;
      }
      const result = out.result as unknown as Proc & { name: string; children: Proc[] };
      expect(Object.keys(result)).toEqual(["name", "pid", "memory_usage", "cpu_usage", "children"]);
      expect(Object.keys(result.children[0] ?? {})).toEqual(["pid", "memory_usage", "cpu_usage"]);
      expect(result).toEqual({
        name: "a",
        pid: main,
        memory_usage: rss(main),
        cpu_usage: expect.any(Number),
        children: [{ pid: child, memory_usage: rss(child), cpu_usage: expect.any(Number) }],
      });
      // An idle sleep uses no CPU to speak of.
      expect(result.cpu_usage).toBeLessThan(5);
      expect(result.children[0]?.cpu_usage).toBeLessThan(5);
    } finally {
      for (const p of sleepers) p.kill();
    }
  });

  test("unknown and down", async () => {
    expect(await call("service_stats", ["x"])).toEqual({
      error: notFound("collecting stats", "x"),
    });
    await stopped("d");
    expect(await call("service_stats", ["d"])).toEqual({
      error: serviceDown("collecting stats", "d"),
    });
  });
});

describe("system methods", () => {
  test("shutdown answers null; a second shutdown or reboot is -32006", async () => {
    t.close();
    t = await testDaemon({ canPower: true, files: { a: "exec: a\n" } });
    expect(await call("system_shutdown")).toEqual({ result: null });
    await t.sys.flush();
    expect(t.powered).toEqual([{ mode: "poweroff", exitCode: 0 }]);
    expect(await call("system_shutdown")).toEqual({
      error: shuttingDownError("system shutdown", null),
    });
    expect(await call("system_reboot")).toEqual({
      error: shuttingDownError("system reboot", null),
    });
  });

  test("reboot answers null", async () => {
    t.close();
    t = await testDaemon({ canPower: true });
    expect(await call("system_reboot", [])).toEqual({ result: null });
    await t.sys.flush();
    expect(t.powered).toEqual([{ mode: "reboot", exitCode: 0 }]);
  });

  test("an unexpected failure of shutdown keeps upstream's -32006; of reboot, -32603", async () => {
    t.sys.clockFault = new Error("EPERM: Operation not permitted");
    expect(await call("system_shutdown")).toEqual({
      error: {
        code: -32006,
        message: "system shutdown: EPERM: Operation not permitted",
        data: data("ShuttingDown", "system shutdown", null, HINT_SHUTDOWN),
      },
    });
    t.sys.clockFault = new Error("EPERM: Operation not permitted");
    expect(await call("system_reboot")).toEqual({
      error: {
        code: -32603,
        message: "system reboot: EPERM: Operation not permitted",
        data: data("InternalError", "system reboot", null, HINT_DEFAULT),
      },
    });
    // Neither began: the next one does.
    expect(await call("system_reboot")).toEqual({ result: null });
  });

  test("http server start reports the bound address; stop; errors", async () => {
    const started = (await call("system_start_http_server", ["127.0.0.1:0"])) as {
      result: string;
    };
    const bound = /^HTTP\/RPC server started at (127\.0\.0\.1:(\d+))$/.exec(started.result);
    expect(Number(bound?.[2])).toBeGreaterThan(0);
    // A real server, bound to the port it reports, serving this daemon's table.
    const reply = await fetch(`http://${bound?.[1]}/`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"jsonrpc":"2.0","id":1,"method":"service_list"}',
    });
    expect(await reply.json()).toEqual({ jsonrpc: "2.0", result: {}, id: 1 });
    expect(await call("system_stop_http_server")).toEqual({ result: null });
    await expect(fetch(`http://${bound?.[1]}/`)).rejects.toThrow();
    expect(await call("system_stop_http_server")).toEqual({
      error: {
        code: -32603,
        message: "stopping http server: No HTTP/RPC server is currently running",
        data: data("InternalError", "stopping http server", null, HINT_DEFAULT),
      },
    });
    expect(await call("system_start_http_server", { address: "localhost" })).toEqual({
      error: {
        code: -32603,
        message: "starting http server: Failed to parse socket address",
        data: {
          ...data("InternalError", "starting http server", null, HINT_DEFAULT),
          cause_chain: ["invalid socket address syntax"],
        },
      },
    });
  });
});

describe("logs", () => {
  const LINES = [
    "[+] redis: ready",
    "[-] redis/test: probing",
    "[-] zinit: 3 lines dropped",
    "[+] redis-2: other",
    "[-] redis: warn",
  ];
  beforeEach(() => {
    for (const line of LINES) pushLine(t.ring, line);
  });

  test("currentLogs: all, or one service's own lines", async () => {
    expect(await call("stream_currentLogs")).toEqual({ result: LINES });
    expect(await call("stream_currentLogs", [null])).toEqual({ result: LINES });
    expect(await call("stream_currentLogs", ["redis"])).toEqual({
      result: ["[+] redis: ready", "[-] redis: warn"],
    });
    expect(await call("stream_currentLogs", { name: "zinit" })).toEqual({
      result: ["[-] zinit: 3 lines dropped"],
    });
    expect(await call("stream_currentLogs", ["a/b"])).toEqual({
      error: invalidName("getting logs", "a/b", "must not contain '/'"),
    });
  });

  test("subscribeLogs takes its filter positionally or named `filter` or `name`", async () => {
    const def = t.table.get("stream_subscribeLogs");
    if (def?.kind !== "subscribe") throw new Error("not a subscription");
    for (const params of [["redis"], { filter: "redis" }, { name: "redis" }]) {
      const got: unknown[] = [];
      const cancel = cancelOf(await def.subscribe(params, (item) => got.push(item)));
      pushLine(t.ring, "[+] redis: new");
      pushLine(t.ring, "[+] redis/test: new");
      cancel();
      pushLine(t.ring, "[+] redis: after cancel");
      expect(got).toEqual(["[+] redis: new"]);
    }
    expect(t.subscribers()).toBe(0);
    const all: unknown[] = [];
    const cancel = cancelOf(await def.subscribe(undefined, (item) => all.push(item)));
    pushLine(t.ring, "[-] zinit: x");
    cancel();
    expect(all).toEqual(["[-] zinit: x"]);
    const err = await def.subscribe(["../x"], () => {}).catch((e: ApiError) => e.toJSON());
    expect(err).toEqual(invalidName("subscribing to logs", "../x", "must not contain '/'"));
    expect(t.subscribers()).toBe(0);
  });
});

describe("log queries, follows and reopen", () => {
  const T0 = 1_767_225_600_000;
  beforeEach(() => {
    pushLine(t.ring, "[+] redis: ready");
    t.sys.clock += 5000;
    pushLine(t.ring, "[-] redis/test: probing");
    pushLine(t.ring, "[-] zinit: started");
    t.sys.clock += 5000;
    pushLine(t.ring, "[+] redis: GET 500");
  });
  const lines = (outcome: Outcome) =>
    "result" in outcome
      ? (outcome.result as { records: Array<{ service: string; line: string }> }).records.map(
          (r) => `${r.service}: ${r.line}`,
        )
      : outcome;

  test("queryLogs: records with every filter, named or positional", async () => {
    expect(await call("stream_queryLogs")).toEqual({
      result: {
        records: [
          { seq: 1, time: T0, service: "redis", stream: "stdout", line: "ready" },
          { seq: 2, time: T0 + 5000, service: "redis/test", stream: "stderr", line: "probing" },
          { seq: 3, time: T0 + 5000, service: "zinit", stream: "stderr", line: "started" },
          { seq: 4, time: T0 + 10_000, service: "redis", stream: "stdout", line: "GET 500" },
        ],
        next: null,
        to: 4,
      },
    });
    expect(lines(await call("stream_queryLogs", { names: ["redis", "zinit"] }))).toEqual([
      "redis: ready",
      "zinit: started",
      "redis: GET 500",
    ]);
    expect(lines(await call("stream_queryLogs", { names: "redis/test" }))).toEqual([
      "redis/test: probing",
    ]);
    expect(lines(await call("stream_queryLogs", [null, 2]))).toEqual([
      "zinit: started",
      "redis: GET 500",
    ]);
    expect(lines(await call("stream_queryLogs", { since: T0 + 1, until: T0 + 5000 }))).toEqual([
      "redis/test: probing",
      "zinit: started",
    ]);
    expect(lines(await call("stream_queryLogs", { grep: "^GET \\d+$" }))).toEqual([
      "redis: GET 500",
    ]);
    const first = await call("stream_queryLogs", { limit: 3 });
    expect(first).toMatchObject({ result: { next: 3, to: 4 } });
    expect(lines(await call("stream_queryLogs", { after: 3, to: 4 }))).toEqual(["redis: GET 500"]);
    expect(t.calls.at(-1)).toEqual({ method: "queryLogs", args: [{ after: 3, to: 4 }] });
  });

  test("queryLogs: bad names, patterns and numbers are -32602 with the reason", async () => {
    expect(await call("stream_queryLogs", { names: ["../x"] })).toEqual({
      error: invalidName("querying logs", "../x", "must not contain '/'"),
    });
    expect(await call("stream_queryLogs", { names: ["a/other"] })).toEqual({
      error: invalidName("querying logs", "a/other", "must not contain '/'"),
    });
    const bad = await call("stream_queryLogs", { grep: "(a)\\1" });
    expect(bad).toEqual({
      error: {
        code: -32602,
        message: "querying logs: grep: invalid pattern: backreferences are not supported",
        data: expect.objectContaining({ code_name: "InvalidParams", action: "querying logs" }),
      },
    });
    expect(await call("stream_queryLogs", { lines: -1 })).toEqual({
      error: {
        code: -32602,
        message: "Invalid params",
        data: "invalid value: integer `-1`, expected at least 0",
      },
    });
    expect(await call("stream_queryLogs", { lines: "5" })).toEqual({
      error: {
        code: -32602,
        message: "Invalid params",
        data: 'invalid type: string "5", expected an integer',
      },
    });
    expect(await call("stream_queryLogs", { names: [1] })).toEqual({
      error: {
        code: -32602,
        message: "Invalid params",
        data: "invalid type: integer `1`, expected a string",
      },
    });
    expect(await call("stream_queryLogs", { since: "yesterday" })).toEqual({
      error: {
        code: -32602,
        message: "Invalid params",
        data: 'invalid type: string "yesterday", expected a number',
      },
    });
  });

  test("followLogs: records as they come, lag notes, and a last note when zinit stops", async () => {
    const def = t.table.get("stream_followLogs");
    if (def?.kind !== "subscribe") throw new Error("not a subscription");
    const got: unknown[] = [];
    await def.subscribe({ names: ["redis"], grep: "new" }, (item) => got.push(item));
    pushLine(t.ring, "[+] redis: new one");
    pushLine(t.ring, "[+] redis: old one");
    pushLine(t.ring, "[+] redis/test: new");
    t.ring.end("zinit stopped");
    expect(got).toEqual([
      { seq: 5, time: T0 + 10_000, service: "redis", stream: "stdout", line: "new one" },
      {
        time: expect.any(Number),
        service: "zinit",
        stream: "stderr",
        line: "zinit stopped",
        end: true,
      },
    ]);
    expect(def.lagged(7)).toEqual({
      time: expect.any(Number),
      service: "zinit",
      stream: "stderr",
      line: "7 lines dropped",
      dropped: 7,
    });
    const err = await def.subscribe({ grep: "[" }, () => {}).catch((e: ApiError) => e.toJSON());
    expect(err).toMatchObject({
      code: -32602,
      message: "following logs: grep: invalid pattern: missing ]",
    });
    expect(t.table.get("stream_unfollowLogs")).toEqual({
      kind: "unsubscribe",
      subscription: "stream_followLogs",
    });
  });

  test("reopenLogs answers with the files it reopened", async () => {
    const logDir = mkdtempSync(join(tmpdir(), "zinit-reopen-"));
    t.close();
    t = await testDaemon({ logDir, files: { a: "exec: a\nlog: file\n", b: "exec: b\n" } });
    try {
      expect(await call("system_reopenLogs", ["ignored"])).toEqual({
        result: [join(logDir, "a.log"), join(logDir, "b.log")],
      });
    } finally {
      rmSync(logDir, { recursive: true, force: true });
    }
  });
});
