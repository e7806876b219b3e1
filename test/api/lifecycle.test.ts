// The lifecycle methods that are ours, not upstream's, over the real daemon and the fake Sys:
// service_wait, stream_subscribeEvents and system_ready; their params, results and errors.

import { afterEach, describe, expect, test } from "bun:test";
import { ApiError, type RpcErrorObject } from "../../src/api/errors.ts";
import { RpcSession } from "../../src/api/jsonrpc.ts";
import { MAX_NAMES } from "../../src/api/methods.ts";
import { MAX_LISTED } from "../../src/api/readiness.ts";
import { type TestDaemon, type TestDaemonOptions, testDaemon } from "../helpers/daemon.ts";
import { invalidName, notFound } from "../helpers/rpc-errors.ts";

let t: TestDaemon | null = null;

afterEach(() => {
  t?.close();
  t = null;
});

async function daemon(opts: TestDaemonOptions): Promise<TestDaemon> {
  t = await testDaemon(opts);
  return t;
}

type Outcome = { result: unknown } | { error: RpcErrorObject };

/** Calls a method and drives the fake system until it answers (or `drive` says otherwise). */
async function call(z: TestDaemon, method: string, params?: unknown): Promise<Outcome> {
  const def = z.table.get(method);
  if (def?.kind !== "call") throw new Error(`${method} is not a call method`);
  try {
    return { result: await z.settle(def.call(params)) };
  } catch (err) {
    if (err instanceof ApiError) return { error: err.toJSON() };
    throw err;
  }
}

const invalid = (data: string) => ({ error: { code: -32602, message: "Invalid params", data } });

describe("service_wait", () => {
  test("names, condition and timeout, positional or named; met at once", async () => {
    const z = await daemon({ files: { a: "exec: a\n", b: "exec: b\n" } });
    const met = {
      result: {
        ok: true,
        services: {
          a: { state: "Running", met: true, reason: "ready" },
          b: { state: "Running", met: true, reason: "ready" },
        },
        why: "met",
      },
    };
    expect(await call(z, "service_wait", [["a", "b"], "running", 5])).toEqual(met);
    expect(await call(z, "service_wait", { names: ["a", "b"], condition: "running" })).toEqual(met);
    // One name may be a plain string; the condition defaults to running.
    expect(await call(z, "service_wait", ["a"])).toEqual({
      result: { ok: true, services: { a: met.result.services.a }, why: "met" },
    });
  });

  test("waits for the condition, server-side: no reply until it is met", async () => {
    const z = await daemon({ files: { web: "exec: web\ntest: check\n" } });
    const def = z.table.get("service_wait");
    if (def?.kind !== "call") throw new Error("no service_wait");
    let answer: unknown = null;
    const pending = def.call(["web", "running"]).then((r) => {
      answer = r;
    });
    await z.sys.advance(1_000);
    expect(answer).toBeNull();
    z.sys.exit(z.sys.find("check").pid, { kind: "exited", code: 0 });
    await z.settle(pending);
    expect(answer).toEqual({
      ok: true,
      services: { web: { state: "Running", met: true, reason: "ready" } },
      why: "met",
    });
  });

  test("a timeout says which service is not there yet", async () => {
    const z = await daemon({ files: { a: "exec: a\n", b: "exec: b\ntest: check\n" } });
    const def = z.table.get("service_wait");
    if (def?.kind !== "call") throw new Error("no service_wait");
    const pending = def.call({ names: ["a", "b"], timeout: 2.5 });
    await z.sys.advance(2_499);
    expect(z.sys.pendingTimers()).toContain(1);
    await z.sys.advance(1);
    expect(await pending).toEqual({
      ok: false,
      services: {
        a: { state: "Running", met: true, reason: "ready" },
        b: { state: "Spawned", met: false, reason: "spawned" },
      },
      why: "timeout",
    });
  });

  test("a service that can no longer get there ends the wait at once: failed", async () => {
    const z = await daemon({ files: { job: "exec: job\noneshot: true\n" } });
    const def = z.table.get("service_wait");
    if (def?.kind !== "call") throw new Error("no service_wait");
    const pending = def.call(["job", "running"]);
    z.sys.exit(z.sys.find("job").pid, { kind: "exited", code: 3 });
    expect(await z.settle(pending)).toEqual({
      ok: false,
      services: {
        job: { state: "Error(Exited(Pid(100), 3))", met: false, reason: "exited with code 3" },
      },
      why: "failed",
    });
    expect(await call(z, "service_wait", ["job", "failed"])).toMatchObject({
      result: { ok: true, why: "met" },
    });
    expect(await call(z, "service_wait", ["job", "exited"])).toMatchObject({
      result: { ok: true, why: "met" },
    });
  });

  test("a client that goes away takes its wait with it", async () => {
    const z = await daemon({ files: { web: "exec: web\ntest: check\n" } });
    const sent: string[] = [];
    const session = new RpcSession(z.table, (m) => sent.push(m));
    void session.handleText(
      '{"jsonrpc":"2.0","id":1,"method":"service_wait","params":["web","running",60]}',
    );
    await z.sys.flush();
    expect(z.sys.pendingTimers()).toContain(60_000);
    session.close();
    await z.sys.flush();
    // Its timer is cleared, and nothing is answered to nobody.
    expect(z.sys.pendingTimers()).not.toContain(60_000);
    z.sys.exit(z.sys.find("check").pid, { kind: "exited", code: 0 });
    await z.sys.flush();
    expect(sent).toEqual([]);
  });

  test("errors: params, names, unknown services", async () => {
    const z = await daemon({ files: { a: "exec: a\n" } });
    expect(await call(z, "service_wait", [])).toEqual(invalid("No more params"));
    expect(await call(z, "service_wait", {})).toEqual(invalid("missing field `names`"));
    expect(await call(z, "service_wait", [5])).toEqual(
      invalid("invalid type: integer `5`, expected a service name or a sequence of them"),
    );
    expect(await call(z, "service_wait", [["a", null]])).toEqual(
      invalid("invalid type: null, expected a service name or a sequence of them"),
    );
    expect(await call(z, "service_wait", [[]])).toEqual(
      invalid("invalid length 0, expected 1 or more names"),
    );
    const many = Array.from({ length: MAX_NAMES + 1 }, (_, i) => `s${i}`);
    expect(await call(z, "service_wait", [many])).toEqual(
      invalid(`invalid length ${MAX_NAMES + 1}, expected at most ${MAX_NAMES} names`),
    );
    expect(await call(z, "service_wait", ["a", "up"])).toEqual(
      invalid("unknown variant `up`, expected one of `running`, `stopped`, `exited`, `failed`"),
    );
    expect(await call(z, "service_wait", ["a", "running", "soon"])).toEqual(
      invalid('invalid type: string "soon", expected a number of seconds'),
    );
    expect(await call(z, "service_wait", ["a", "running", -1])).toEqual(
      invalid("invalid value: integer `-1`, expected a number of seconds >= 0"),
    );
    expect(await call(z, "service_wait", [["a", "../x"]])).toEqual({
      error: invalidName("waiting for services", "../x"),
    });
    expect(await call(z, "service_wait", ["nope"])).toEqual({
      error: notFound("waiting for services", "nope"),
    });
    expect(await call(z, "service_wait", [["a", "nope"]])).toEqual({
      error: { ...notFound("waiting for services", "nope") },
    });
  });
});

describe("stream_subscribeEvents", () => {
  /** A session with a subscription; the parsed notifications' results, and the session. */
  async function subscribed(z: TestDaemon, congested: () => boolean = () => false) {
    const sent: string[] = [];
    const session = new RpcSession(z.table, (m) => sent.push(m), { congested });
    await session.handleText('{"jsonrpc":"2.0","id":1,"method":"stream_subscribeEvents"}');
    const id = JSON.parse(sent[0] ?? "{}").result;
    expect(Number.isSafeInteger(id)).toBe(true);
    // The notifications' items (replies to later requests are left out).
    const items = () =>
      sent
        .slice(1)
        .map((m) => JSON.parse(m))
        .filter((n) => n.method !== undefined)
        .map((n) => {
          expect(n.method).toBe("stream_subscribeEvents");
          expect(n.params.subscription).toBe(id);
          return n.params.result;
        });
    return { session, items, id, sent };
  }

  test("a snapshot, then every change with its reason, pid, exit and time, in order", async () => {
    const z = await daemon({ files: { a: "exec: a\n", job: "exec: job\noneshot: true\n" } });
    const { session, items } = await subscribed(z);
    const t0 = z.sys.wall;
    expect(items()).toEqual([
      {
        event: "snapshot",
        services: [
          {
            name: "a",
            state: "Running",
            target: "Up",
            pid: 100,
            phase: "running",
            ready: true,
            reason: "ready",
            exit: null,
            time: t0,
          },
          {
            name: "job",
            state: "Running",
            target: "Up",
            pid: 101,
            phase: "running",
            ready: true,
            reason: "ready",
            exit: null,
            time: t0,
          },
        ],
      },
    ]);
    await z.sys.advance(1_500);
    z.sys.exit(101, { kind: "exited", code: 0 });
    await z.sys.flush();
    z.sys.exit(100, { kind: "signaled", signal: 9, core: false });
    await z.sys.advance(500);
    await z.settle(z.daemon.stop("job"));
    z.daemon.forget("job");
    const brief = (e: Record<string, unknown>) =>
      e.event === "change"
        ? `${(e.time as number) - t0} ${e.name} ${e.state} pid=${e.pid} ${JSON.stringify(e.exit)} ${e.reason}`
        : `${(e.time as number) - t0} ${e.name} ${e.event}`;
    expect(items().slice(1).map(brief)).toEqual([
      '1500 job Success pid=0 {"code":0,"signal":null} exited with code 0',
      '1500 a Error(Signaled(Pid(100), SIGKILL, false)) pid=0 {"code":null,"signal":9} killed by SIGKILL; restarting',
      "1500 a Error(Signaled(Pid(100), SIGKILL, false)) pid=0 null starting",
      "1500 a Running pid=102 null ready",
      "2000 job Success pid=0 null stopping",
      "2000 job Success pid=0 null stopped",
      "2000 job forgotten",
    ]);
    session.close();
  });

  test("unsubscribe, and close(), end the feed", async () => {
    const z = await daemon({ files: { a: "exec: a\n" } });
    const { session, items, id, sent } = await subscribed(z);
    const out: string[] = [];
    const other = new RpcSession(z.table, (m) => out.push(m));
    await other.handleText(
      `{"jsonrpc":"2.0","id":2,"method":"stream_unsubscribeEvents","params":[${id}]}`,
    );
    // Another connection's subscription is not its to end.
    expect(out).toEqual(['{"jsonrpc":"2.0","result":false,"id":2}']);
    const before = items().length;
    z.sys.exit(100, { kind: "exited", code: 1 });
    await z.sys.flush();
    expect(items().length).toBeGreaterThan(before);
    await session.handleText(
      `{"jsonrpc":"2.0","id":3,"method":"stream_unsubscribeEvents","params":[${id}]}`,
    );
    expect(sent.at(-1)).toBe('{"jsonrpc":"2.0","result":true,"id":3}');
    const after = sent.length;
    z.sys.exit(z.sys.find("a").pid, { kind: "exited", code: 1 });
    await z.sys.advance(1_000);
    expect(sent.length).toBe(after);
    session.close();
  });

  test("a subscriber that falls behind is told how many it missed, with where things stand now", async () => {
    const z = await daemon({ files: { a: "exec: a\n" } });
    let congested = false;
    const { session, items } = await subscribed(z, () => congested);
    congested = true;
    z.sys.exit(100, { kind: "exited", code: 1 });
    await z.sys.flush();
    congested = false;
    session.outputEmptied();
    const [lag] = items().slice(1);
    expect(lag).toEqual({
      event: "lagged",
      dropped: 3,
      services: [
        {
          name: "a",
          state: "Running",
          target: "Up",
          pid: 101,
          phase: "running",
          ready: true,
          reason: "ready",
          exit: null,
          time: z.sys.wall,
        },
      ],
    });
    session.close();
  });

  test("plain HTTP has no channel for it", async () => {
    const z = await daemon({});
    const out: string[] = [];
    await new RpcSession(z.table, (m) => out.push(m), { subscriptions: false }).handleText(
      '{"jsonrpc":"2.0","id":1,"method":"stream_subscribeEvents"}',
    );
    expect(JSON.parse(out[0] ?? "{}").error.code).toBe(-32603);
  });
});

describe("system_ready", () => {
  test("every service whose target is Up: Running, or Success for a oneshot", async () => {
    const z = await daemon({
      files: {
        web: "exec: web\n",
        job: "exec: job\noneshot: true\n",
        off: "exec: off\n",
      },
    });
    await z.settle(z.daemon.stop("off"));
    // The oneshot is still running: not done yet.
    expect(await call(z, "system_ready")).toEqual({
      result: {
        ready: false,
        shutting_down: false,
        checked: 2,
        not_ready: [{ name: "job", state: "Running", reason: "ready" }],
        more: 0,
      },
    });
    z.sys.exit(z.sys.find("job").pid, { kind: "exited", code: 0 });
    await z.sys.flush();
    expect(await call(z, "system_ready", [])).toEqual({
      result: { ready: true, shutting_down: false, checked: 2, not_ready: [], more: 0 },
    });
  });

  test("why a service is not ready: its failing check, else its reason", async () => {
    const z = await daemon({
      files: { web: "exec: web\ntest: check\n", w: "exec: w\nafter: [web]\n" },
    });
    z.sys.exit(z.sys.find("check").pid, { kind: "exited", code: 1 });
    await z.sys.flush();
    expect(await call(z, "system_ready")).toEqual({
      result: {
        ready: false,
        shutting_down: false,
        checked: 2,
        not_ready: [
          { name: "w", state: "Blocked", reason: "waiting for 'web'" },
          {
            name: "web",
            state: "Spawned",
            reason: "test exited with code 1 (attempt 1); retrying in 50 ms",
          },
        ],
        more: 0,
      },
    });
  });

  test("named services only, whatever their target; unknown ones are not ready", async () => {
    const z = await daemon({ files: { a: "exec: a\n", b: "exec: b\n" } });
    await z.settle(z.daemon.stop("b"));
    expect(await call(z, "system_ready", [["a"]])).toMatchObject({
      result: { ready: true, checked: 1 },
    });
    expect(await call(z, "system_ready", { names: ["b", "a", "ghost"] })).toEqual({
      result: {
        ready: false,
        shutting_down: false,
        checked: 3,
        not_ready: [
          {
            name: "b",
            state: "Error(Signaled(Pid(101), SIGTERM, false))",
            reason: "stopped",
          },
          { name: "ghost", state: "Unknown", reason: "not a monitored service" },
        ],
        more: 0,
      },
    });
    expect(await call(z, "system_ready", [["a/b"]])).toEqual({
      error: invalidName("checking readiness", "a/b"),
    });
  });

  test("nothing is ready once a shutdown has begun; long lists are cut", async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < MAX_LISTED + 5; i++)
      files[`s${String(i).padStart(3, "0")}`] = "exec: x\nafter: [ghost]\n";
    const z = await daemon({ files });
    const out = (await call(z, "system_ready")) as { result: Record<string, unknown> };
    expect(out.result.checked).toBe(MAX_LISTED + 5);
    expect((out.result.not_ready as unknown[]).length).toBe(MAX_LISTED);
    expect(out.result.more).toBe(5);
    z.daemon.shutdown(false);
    expect(await call(z, "system_ready", [[]])).toEqual({
      result: { ready: false, shutting_down: true, checked: 0, not_ready: [], more: 0 },
    });
  });
});
