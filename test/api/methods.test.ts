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
import { type MethodTable, OPENRPC_TEXT } from "../../src/api/methods.ts";
import openrpc from "../../src/api/openrpc.json" with { type: "json" };
import { ServiceStore } from "../../src/config/store.ts";
import { ZinitError } from "../../src/core/errors.ts";
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
import { FakeControl, fakeTable } from "./fake-control.ts";

let dir: string;
let fake: FakeControl;
let table: MethodTable;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "zinit-methods-"));
  fake = new FakeControl(dir);
  table = fakeTable(fake);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

type Outcome = { result: unknown } | { error: RpcErrorObject };

async function call(method: string, params?: unknown): Promise<Outcome> {
  const def = table.get(method);
  if (def?.kind !== "call") throw new Error(`${method} is not a call method`);
  try {
    return { result: await def.call(params) };
  } catch (err) {
    if (err instanceof ApiError) return { error: err.toJSON() };
    throw err;
  }
}

const HINT_FILE = "Check permissions and filesystem availability";

describe("params", () => {
  test("positional and named forms give the same result", async () => {
    fake.add("redis", { pid: 42 });
    const want = {
      result: { name: "redis", pid: 42, state: "Running", target: "Up", after: {} },
    };
    expect(await call("service_status", ["redis"])).toEqual(want);
    expect(await call("service_status", { name: "redis" })).toEqual(want);
  });

  test("extra positional params and unknown named keys are ignored", async () => {
    fake.add("redis", { pid: 42 });
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
    expect(fake.calls).toEqual([]);
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
    fake.add("a", { state: "Success" });
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
    fake.add("a");
    fake.add("b", { pid: 0, state: "Error(Exited(Pid(77), 1))", target: "Down" });
    expect(await call("service_list")).toEqual({
      result: { a: "Running", b: "Error(Exited(Pid(77), 1))" },
    });
  });

  test("status: key order, dependency states, Unknown for an unmonitored dependency", async () => {
    fake.add("db", { state: "Success", pid: 0 });
    fake.add("web", { pid: 1234, after: ["db", "cache"] });
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
    expect(fake.calls).toEqual([]);
  });

  test("dots are fine in names (unlike upstream)", async () => {
    fake.add("my.svc", { pid: 9 });
    expect(await call("service_status", ["my.svc"])).toEqual({
      result: { name: "my.svc", pid: 9, state: "Running", target: "Up", after: {} },
    });
  });
});

describe("service_start / service_stop / service_forget", () => {
  test("start sets the target and answers null", async () => {
    const svc = fake.add("a", { pid: 0, target: "Down", state: "Success" });
    expect(await call("service_start", ["a"])).toEqual({ result: null });
    expect(svc.target).toBe("Up");
    expect(fake.calls).toEqual([{ method: "start", args: ["a"] }]);
  });

  test("start errors: not found, shutting down", async () => {
    expect(await call("service_start", ["x"])).toEqual({
      error: notFound("starting service", "x"),
    });
    fake.add("a");
    fake.shutdownMode = "shutdown";
    expect(await call("service_start", ["a"])).toEqual({
      error: shuttingDownError("starting service", "a"),
    });
  });

  test("stop answers only once the daemon's stop has finished", async () => {
    const svc = fake.add("a", { pid: 55 });
    let open = () => {};
    fake.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let answered = false;
    const pending = call("service_stop", ["a"]).then((out) => {
      answered = true;
      return out;
    });
    // Let every already-runnable continuation run: the gate is still closed.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(answered).toBe(false);
    expect(svc.target).toBe("Down");
    open();
    expect(await pending).toEqual({ result: null });
    expect(svc.pid).toBe(0);
  });

  test("stop of an unknown service", async () => {
    expect(await call("service_stop", { name: "x" })).toEqual({
      error: notFound("stopping service", "x"),
    });
  });

  test("forget: removes a stopped service; refuses an up one and an unknown one", async () => {
    fake.add("up");
    fake.add("down", { pid: 0, target: "Down" });
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
    expect(fake.services.has("down")).toBe(false);
    expect(await call("service_forget", ["down"])).toEqual({
      error: notFound("forgetting service", "down"),
    });
  });

  test("an unexpected failure inside the daemon is -32603 with the cause chain", async () => {
    fake.add("a");
    fake.fail.set("stop", new Error("boom", { cause: new Error("deeper") }));
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
  });
});

describe("service_monitor", () => {
  test("loads the file and monitors the service", async () => {
    writeFileSync(join(dir, "web.yaml"), "exec: /bin/web\nafter: [db]\n");
    expect(await call("service_monitor", ["web"])).toEqual({ result: null });
    expect(fake.services.get("web")?.after).toEqual(["db"]);
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
    writeFileSync(join(dir, "a.yaml"), "exec: /bin/a\n");
    fake.add("a");
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
    fake.shutdownMode = "reboot";
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
    const svc = fake.add("a");
    expect(await call("service_kill", ["a", "sigusr1"])).toEqual({ result: null });
    expect(await call("service_kill", { name: "a", signal: "SIGHUP" })).toEqual({ result: null });
    expect(svc.signals).toEqual(["SIGUSR1", "SIGHUP"]);
  });

  test("the signal is checked first, even for an unknown service or a bad name", async () => {
    for (const [name, signal] of [
      ["a", "TERM"],
      ["missing", "15"],
      ["a/b", "SIGNOPE"],
    ] as const) {
      expect(await call("service_kill", [name, signal])).toEqual({
        error: invalidSignal(name, signal),
      });
    }
    expect(fake.calls).toEqual([]);
  });

  test("unknown, down, invalid name, and an OS error", async () => {
    expect(await call("service_kill", ["x", "SIGTERM"])).toEqual({
      error: notFound("sending signal", "x"),
    });
    fake.add("down", { pid: 0 });
    expect(await call("service_kill", ["down", "SIGTERM"])).toEqual({
      error: serviceDown("sending signal", "down"),
    });
    expect(await call("service_kill", ["a/b", "SIGTERM"])).toEqual({
      error: invalidName("sending signal", "a/b", "must not contain '/'"),
    });
    fake.add("a");
    fake.fail.set(
      "kill",
      new ZinitError("InternalError", "ESRCH: No such process", { service: "a" }),
    );
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
    expect(fake.calls).toEqual([]);
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
    fake.shutdownMode = "shutdown";
    expect(await call("service_create", ["late", { exec: "/bin/x" }])).toEqual({
      error: shuttingDownError("creating service", "late"),
    });
    expect(readdirSync(dir)).toEqual([]);
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
    table = fakeTable(new FakeControl(join(dir, "gone")));
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
    fake.add("a");
    expect(await call("service_delete", ["a"])).toEqual({
      result: "Service 'a' deleted successfully",
    });
    expect(readdirSync(dir)).toEqual(["other.yaml"]);
    expect(fake.services.has("a")).toBe(true);
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
  test("shape and key order", async () => {
    fake.add("a", { pid: 10, children: [{ pid: 11, memory_usage: 2048, cpu_usage: 0.5 }] });
    const out = (await call("service_stats", ["a"])) as { result: unknown };
    expect(JSON.stringify(out.result)).toBe(
      '{"name":"a","pid":10,"memory_usage":40960,"cpu_usage":1.5,"children":[{"pid":11,"memory_usage":2048,"cpu_usage":0.5}]}',
    );
  });

  test("unknown and down", async () => {
    expect(await call("service_stats", ["x"])).toEqual({
      error: notFound("collecting stats", "x"),
    });
    fake.add("d", { pid: 0 });
    expect(await call("service_stats", ["d"])).toEqual({
      error: serviceDown("collecting stats", "d"),
    });
  });
});

describe("system methods", () => {
  test("shutdown answers null; a second shutdown or reboot is -32006", async () => {
    expect(await call("system_shutdown")).toEqual({ result: null });
    expect(fake.shutdownMode).toBe("shutdown");
    expect(await call("system_shutdown")).toEqual({
      error: shuttingDownError("system shutdown", null),
    });
    expect(await call("system_reboot")).toEqual({
      error: shuttingDownError("system reboot", null),
    });
  });

  test("reboot answers null", async () => {
    expect(await call("system_reboot", [])).toEqual({ result: null });
    expect(fake.shutdownMode).toBe("reboot");
  });

  test("an OS failure of shutdown keeps upstream's -32006; of reboot, -32603", async () => {
    fake.fail.set("shutdown", new Error("EPERM: Operation not permitted"));
    expect(await call("system_shutdown")).toEqual({
      error: {
        code: -32006,
        message: "system shutdown: EPERM: Operation not permitted",
        data: data("ShuttingDown", "system shutdown", null, HINT_SHUTDOWN),
      },
    });
    fake.fail.set("shutdown", new Error("EPERM: Operation not permitted"));
    expect(await call("system_reboot")).toEqual({
      error: {
        code: -32603,
        message: "system reboot: EPERM: Operation not permitted",
        data: data("InternalError", "system reboot", null, HINT_DEFAULT),
      },
    });
  });

  test("http server start reports the bound address; stop; errors", async () => {
    expect(await call("system_start_http_server", ["127.0.0.1:0"])).toEqual({
      result: "HTTP/RPC server started at 127.0.0.1:40000",
    });
    expect(await call("system_stop_http_server")).toEqual({ result: null });
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
  beforeEach(() => {
    for (const line of [
      "[+] redis: ready",
      "[-] redis/test: probing",
      "[-] zinit: 3 lines dropped",
      "[+] redis-2: other",
      "[-] redis: warn",
    ]) {
      fake.log(line);
    }
  });

  test("currentLogs: all, or one service's own lines", async () => {
    expect(await call("stream_currentLogs")).toEqual({ result: fake.lines });
    expect(await call("stream_currentLogs", [null])).toEqual({ result: fake.lines });
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
    const def = table.get("stream_subscribeLogs");
    if (def?.kind !== "subscribe") throw new Error("not a subscription");
    for (const params of [["redis"], { filter: "redis" }, { name: "redis" }]) {
      const got: unknown[] = [];
      const cancel = await def.subscribe(params, (item) => got.push(item));
      fake.log("[+] redis: new");
      fake.log("[+] redis/test: new");
      cancel();
      fake.log("[+] redis: after cancel");
      expect(got).toEqual(["[+] redis: new"]);
    }
    expect(fake.listeners.size).toBe(0);
    const all: unknown[] = [];
    const cancel = await def.subscribe(undefined, (item) => all.push(item));
    fake.log("[-] zinit: x");
    cancel();
    expect(all).toEqual(["[-] zinit: x"]);
    const err = await def.subscribe(["../x"], () => {}).catch((e: ApiError) => e.toJSON());
    expect(err).toEqual(invalidName("subscribing to logs", "../x", "must not contain '/'"));
    expect(fake.listeners.size).toBe(0);
  });
});

describe("log queries, follows and reopen", () => {
  const T0 = 1_767_225_600_000;
  beforeEach(() => {
    fake.log("[+] redis: ready");
    fake.clock += 5000;
    fake.log("[-] redis/test: probing");
    fake.log("[-] zinit: started");
    fake.clock += 5000;
    fake.log("[+] redis: GET 500");
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
    expect(fake.calls.at(-1)).toEqual({ method: "queryLogs", args: [{ after: 3, to: 4 }] });
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
    const def = table.get("stream_followLogs");
    if (def?.kind !== "subscribe") throw new Error("not a subscription");
    const got: unknown[] = [];
    await def.subscribe({ names: ["redis"], grep: "new" }, (item) => got.push(item));
    fake.log("[+] redis: new one");
    fake.log("[+] redis: old one");
    fake.log("[+] redis/test: new");
    fake.ring.end("zinit stopped");
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
    expect(table.get("stream_unfollowLogs")).toEqual({
      kind: "unsubscribe",
      subscription: "stream_followLogs",
    });
  });

  test("reopenLogs answers with the files it reopened", async () => {
    fake.reopened = ["/var/log/zinit/a.log", "/var/log/zinit/b.log"];
    expect(await call("system_reopenLogs", ["ignored"])).toEqual({ result: fake.reopened });
  });
});
