// JSON-RPC sessions over the method table of the real daemon (fake Sys): reply bytes, errors,
// notifications, batches, concurrency and subscriptions.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { handleHttpBody, MAX_SUBSCRIPTIONS, RpcSession } from "../../src/api/jsonrpc.ts";
import type { MethodTable } from "../../src/api/methods.ts";
import { type TestDaemon, testDaemon } from "../helpers/daemon.ts";
import { pushLine } from "../helpers/lines.ts";

const SIGTERM = 15;

let t: TestDaemon | null = null;
let table: MethodTable;
let sent: string[];
let session: RpcSession;

/** A daemon running these services (`exec: <name>`), and a session on its method table. */
async function daemon(...names: string[]): Promise<TestDaemon> {
  t?.close();
  t = await testDaemon({ files: Object.fromEntries(names.map((n) => [n, `exec: ${n}\n`])) });
  table = t.table;
  sent = [];
  session = new RpcSession(table, (msg) => sent.push(msg), {
    subscriptions: true,
    // Above MAX_SUBSCRIPTIONS, so one batch can try to pass the subscription limit.
    batch: { maxBatch: 2048, maxBatchReply: 10 * 1024 * 1024 },
  });
  return t;
}

/** The current daemon. */
const d = () => t as TestDaemon;

beforeEach(async () => {
  await daemon();
});

afterEach(() => {
  t?.close();
  t = null;
});

/** Sends one text and waits until everything in flight has answered. */
async function roundTrip(text: string): Promise<string[]> {
  const before = sent.length;
  await d().settle(session.handleText(text));
  await d().settle(session.pending());
  return sent.slice(before);
}

const PARSE_ERROR = '{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}';
const invalidRequest = (id: string) =>
  `{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid request"},"id":${id}}`;

describe("replies", () => {
  test("success bytes: jsonrpc, result, id in jsonrpsee's order, compact, no newline", async () => {
    await daemon("a");
    expect(await roundTrip('{"jsonrpc":"2.0","id":1,"method":"service_list"}')).toEqual([
      '{"jsonrpc":"2.0","result":{"a":"Running"},"id":1}',
    ]);
    expect(
      await roundTrip('{"id":"x","method":"service_start","params":["a"],"jsonrpc":"2.0"}'),
    ).toEqual(['{"jsonrpc":"2.0","result":null,"id":"x"}']);
    expect(
      await roundTrip('{"jsonrpc":"2.0","id":null,"method":"service_list","params":{}}'),
    ).toEqual(['{"jsonrpc":"2.0","result":{"a":"Running"},"id":null}']);
  });

  test("error bytes", async () => {
    expect(await roundTrip('{"jsonrpc":"2.0","id":2,"method":"nope"}')).toEqual([
      '{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":2}',
    ]);
    expect(await roundTrip('{"jsonrpc":"2.0","id":3,"method":"service_status"}')).toEqual([
      '{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"No more params"},"id":3}',
    ]);
    expect(
      await roundTrip('{"jsonrpc":"2.0","id":4,"method":"service_status","params":["x"]}'),
    ).toEqual([
      '{"jsonrpc":"2.0","error":{"code":-32000,"message":"getting status: service \'x\' not found","data":{"code_name":"ServiceNotFound","service":"x","action":"getting status","retryable":false,"cause_chain":null,"hint":"Ensure the service is monitored or the name is correct"}},"id":4}',
    ]);
  });

  test("unparsable text is a parse error with id null", async () => {
    expect(await roundTrip("{not json")).toEqual([PARSE_ERROR]);
    expect(await roundTrip("")).toEqual([PARSE_ERROR]);
    expect(await roundTrip('{"jsonrpc":"2.0","id":1,"method":"service_list"')).toEqual([
      PARSE_ERROR,
    ]);
  });

  test("invalid requests", async () => {
    expect(await roundTrip('{"id":5,"method":"service_list"}')).toEqual([invalidRequest("5")]);
    expect(await roundTrip('{"jsonrpc":"1.0","id":"a","method":"service_list"}')).toEqual([
      invalidRequest('"a"'),
    ]);
    expect(await roundTrip('{"jsonrpc":"2.0","id":6,"method":7}')).toEqual([invalidRequest("6")]);
    expect(await roundTrip('{"jsonrpc":"2.0","id":{"a":1},"method":"service_list"}')).toEqual([
      invalidRequest("null"),
    ]);
    expect(await roundTrip("42")).toEqual([invalidRequest("null")]);
    expect(await roundTrip('"service_list"')).toEqual([invalidRequest("null")]);
    expect(await roundTrip("{}")).toEqual([invalidRequest("null")]);
    expect(await roundTrip("[]")).toEqual([invalidRequest("null")]);
  });

  test("structured params only", async () => {
    expect(
      await roundTrip('{"jsonrpc":"2.0","id":1,"method":"service_status","params":"redis"}'),
    ).toEqual([
      '{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"invalid type: string \\"redis\\", expected an array or an object"},"id":1}',
    ]);
  });

  test("a result that can't be serialised still gets an answer", async () => {
    const broken: MethodTable = new Map([
      ["big", { kind: "call", call: async () => ({ n: 10n }) }],
    ]);
    const out: string[] = [];
    const s = new RpcSession(broken, (m) => out.push(m));
    await s.handleText('{"jsonrpc":"2.0","id":9,"method":"big"}');
    expect(out.length).toBe(1);
    const reply = JSON.parse(out[0] as string);
    expect(reply.id).toBe(9);
    expect(reply.error.code).toBe(-32603);
    expect(reply.error.message).toBe("Internal error");
  });

  test("a method that throws something that is not an ApiError is -32603", async () => {
    const broken: MethodTable = new Map([
      [
        "bad",
        {
          kind: "call",
          call: async () => {
            throw new TypeError("oops");
          },
        },
      ],
    ]);
    const out: string[] = [];
    await new RpcSession(broken, (m) => out.push(m)).handleText(
      '{"jsonrpc":"2.0","id":1,"method":"bad"}',
    );
    expect(out).toEqual([
      '{"jsonrpc":"2.0","error":{"code":-32603,"message":"Internal error","data":"oops"},"id":1}',
    ]);
  });

  test("a send that throws doesn't escape", async () => {
    const s = new RpcSession(table, () => {
      throw new Error("socket gone");
    });
    await s.handleText('{"jsonrpc":"2.0","id":1,"method":"service_list"}');
    await s.handleText("garbage");
    await s.pending();
  });
});

describe("notifications and batches", () => {
  test("a notification runs but is not answered", async () => {
    const z = await daemon("a");
    await z.settle(z.daemon.stop("a"));
    expect(z.daemon.status("a").target).toBe("Down");
    expect(await roundTrip('{"jsonrpc":"2.0","method":"service_start","params":["a"]}')).toEqual(
      [],
    );
    expect(z.daemon.status("a").target).toBe("Up");
    // Failing and unknown notifications are silent too.
    expect(await roundTrip('{"jsonrpc":"2.0","method":"service_start","params":["zz"]}')).toEqual(
      [],
    );
    expect(await roundTrip('{"jsonrpc":"2.0","method":"nope"}')).toEqual([]);
    // A subscription nobody can address is not started.
    expect(await roundTrip('{"jsonrpc":"2.0","method":"stream_subscribeLogs"}')).toEqual([]);
    expect(d().subscribers()).toBe(0);
  });

  test("a batch answers with one array, without the notifications", async () => {
    await daemon("a");
    const out = await roundTrip(
      JSON.stringify([
        { jsonrpc: "2.0", id: 1, method: "service_list" },
        { jsonrpc: "2.0", method: "service_stop", params: ["a"] },
        { jsonrpc: "2.0", id: 2, method: "nope" },
        5,
      ]),
    );
    expect(out).toEqual([
      '[{"jsonrpc":"2.0","result":{"a":"Running"},"id":1},{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":2},{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid request"},"id":null}]',
    ]);
    expect(d().daemon.status("a")).toMatchObject({ target: "Down", pid: 0 });
  });

  test("a batch of notifications gets no reply at all", async () => {
    const z = await daemon("a");
    z.calls.length = 0;
    const out = await roundTrip(
      '[{"jsonrpc":"2.0","method":"service_list"},{"jsonrpc":"2.0","method":"service_list"}]',
    );
    expect(out).toEqual([]);
    expect(z.calls.map((c) => c.method)).toEqual(["list", "list"]);
  });
});

describe("concurrency", () => {
  test("requests run concurrently and answer as they finish", async () => {
    const z = await daemon("slow");
    // It shrugs off the stop signal: its stop lasts until the process is gone.
    const slow = z.sys.find("slow");
    slow.reactions.set(SIGTERM, "ignore");
    const stopDone = session.handleText(
      '{"jsonrpc":"2.0","id":1,"method":"service_stop","params":["slow"]}',
    );
    await session.handleText('{"jsonrpc":"2.0","id":2,"method":"service_list"}');
    expect(sent).toEqual(['{"jsonrpc":"2.0","result":{"slow":"Running"},"id":2}']);
    let drained = false;
    const drain = session.pending().then(() => {
      drained = true;
    });
    await z.sys.flush();
    expect(slow.signals).toEqual([SIGTERM]);
    expect(drained).toBe(false);
    z.sys.exit(slow.pid, { kind: "exited", code: 0 });
    await z.settle(stopDone);
    await z.settle(drain);
    expect(sent).toEqual([
      '{"jsonrpc":"2.0","result":{"slow":"Running"},"id":2}',
      '{"jsonrpc":"2.0","result":null,"id":1}',
    ]);
  });
});

describe("subscriptions", () => {
  async function subscribe(params: string): Promise<number> {
    const [reply] = await roundTrip(
      `{"jsonrpc":"2.0","id":"s","method":"stream_subscribeLogs"${params ? `,"params":${params}` : ""}}`,
    );
    const parsed = JSON.parse(reply as string);
    expect(Object.keys(parsed)).toEqual(["jsonrpc", "result", "id"]);
    expect(parsed.id).toBe("s");
    expect(Number.isSafeInteger(parsed.result)).toBe(true);
    expect(parsed.result).toBeGreaterThanOrEqual(0);
    return parsed.result;
  }

  const note = (id: number, line: string) =>
    `{"jsonrpc":"2.0","method":"stream_subscribeLogs","params":{"subscription":${id},"result":${JSON.stringify(line)}}}`;

  test("replies with an id, then one notification per new matching line", async () => {
    pushLine(d().ring, "[+] redis: old line, not replayed");
    const id = await subscribe('["redis"]');
    pushLine(d().ring, "[+] redis: one");
    pushLine(d().ring, "[-] other: no");
    pushLine(d().ring, "[-] redis/test: no");
    pushLine(d().ring, '[-] redis: two "quoted"');
    expect(sent.slice(1)).toEqual([
      note(id, "[+] redis: one"),
      note(id, '[-] redis: two "quoted"'),
    ]);
  });

  test("named filter works as `filter` and as `name`; no filter gets everything", async () => {
    const byFilter = await subscribe('{"filter":"a"}');
    const byName = await subscribe('{"name":"a"}');
    const all = await subscribe("");
    sent.length = 0;
    pushLine(d().ring, "[+] a: x");
    pushLine(d().ring, "[+] b: y");
    expect(sent).toEqual([
      note(byFilter, "[+] a: x"),
      note(byName, "[+] a: x"),
      note(all, "[+] a: x"),
      note(all, "[+] b: y"),
    ]);
  });

  test("lines that arrive before the reply is sent follow it, in order", async () => {
    const eager: MethodTable = new Map([
      [
        "sub",
        {
          kind: "subscribe",
          subscribe: async (_params, emit) => {
            emit("first");
            emit("second");
            return () => {};
          },
          lagged: (n) => `dropped ${n}`,
        },
      ],
    ]);
    const out: string[] = [];
    await new RpcSession(eager, (m) => out.push(m)).handleText(
      '{"jsonrpc":"2.0","id":1,"method":"sub"}',
    );
    const id = JSON.parse(out[0] as string).result;
    expect(out).toEqual([
      `{"jsonrpc":"2.0","result":${id},"id":1}`,
      `{"jsonrpc":"2.0","method":"sub","params":{"subscription":${id},"result":"first"}}`,
      `{"jsonrpc":"2.0","method":"sub","params":{"subscription":${id},"result":"second"}}`,
    ]);
  });

  test("unsubscribe: true once, then false; unknown or malformed ids are false", async () => {
    const id = await subscribe("");
    const unsub = (params: string) =>
      roundTrip(`{"jsonrpc":"2.0","id":9,"method":"stream_unsubscribeLogs","params":${params}}`);
    expect(await unsub(`[${id}]`)).toEqual(['{"jsonrpc":"2.0","result":true,"id":9}']);
    expect(d().subscribers()).toBe(0);
    const before = sent.length;
    pushLine(d().ring, "[+] a: after");
    expect(sent.length).toBe(before);
    expect(await unsub(`[${id}]`)).toEqual(['{"jsonrpc":"2.0","result":false,"id":9}']);
    expect(await unsub('["nope"]')).toEqual(['{"jsonrpc":"2.0","result":false,"id":9}']);
    expect(await unsub("[]")).toEqual(['{"jsonrpc":"2.0","result":false,"id":9}']);
    const named = await subscribe("");
    expect(await unsub(`{"subscription":${named}}`)).toEqual([
      '{"jsonrpc":"2.0","result":true,"id":9}',
    ]);
  });

  test("subscriptions belong to their session", async () => {
    const id = await subscribe("");
    const other: string[] = [];
    const otherSession = new RpcSession(table, (m) => other.push(m));
    await otherSession.handleText(
      `{"jsonrpc":"2.0","id":1,"method":"stream_unsubscribeLogs","params":[${id}]}`,
    );
    expect(other).toEqual(['{"jsonrpc":"2.0","result":false,"id":1}']);
    expect(d().subscribers()).toBe(1);
  });

  test("close() drops every subscription of the session", async () => {
    await subscribe("");
    await subscribe('["a"]');
    expect(d().subscribers()).toBe(2);
    session.close();
    expect(d().subscribers()).toBe(0);
    const before = sent.length;
    pushLine(d().ring, "[+] a: after close");
    expect(sent.length).toBe(before);
  });

  test("an invalid filter is an error and subscribes nothing", async () => {
    expect(
      await roundTrip('{"jsonrpc":"2.0","id":1,"method":"stream_subscribeLogs","params":["a/b"]}'),
    ).toEqual([
      `{"jsonrpc":"2.0","error":{"code":-32602,"message":"subscribing to logs: invalid service name 'a/b'","data":{"code_name":"InvalidServiceName","service":"a/b","action":"subscribing to logs","retryable":false,"cause_chain":["must not contain '/'"],"hint":"Name must not be empty or contain '/', '\\\\', '..' or NUL"}},"id":1}`,
    ]);
    expect(d().subscribers()).toBe(0);
  });

  test("a session closed while subscribing keeps nothing", async () => {
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let cancelled = 0;
    const slow: MethodTable = new Map([
      [
        "sub",
        {
          kind: "subscribe",
          subscribe: async () => {
            await gate;
            return () => {
              cancelled++;
            };
          },
          lagged: (n) => n,
        },
      ],
    ]);
    const s = new RpcSession(slow, () => {});
    const done = s.handleText('{"jsonrpc":"2.0","id":1,"method":"sub"}');
    s.close();
    release();
    await done;
    expect(cancelled).toBe(1);
    await s.handleText('{"jsonrpc":"2.0","id":2,"method":"sub"}');
    expect(cancelled).toBe(2);
  });

  test("a batch can't exceed the per-session limit", async () => {
    const batch = JSON.stringify(
      Array.from({ length: MAX_SUBSCRIPTIONS + 3 }, (_, i) => ({
        jsonrpc: "2.0",
        id: i,
        method: "stream_subscribeLogs",
      })),
    );
    const [reply] = await roundTrip(batch);
    const replies = JSON.parse(reply as string) as { error?: { code: number } }[];
    expect(replies.filter((r) => r.error?.code === -32603).length).toBe(3);
    expect(d().subscribers()).toBe(MAX_SUBSCRIPTIONS);
  });

  test(`at most ${MAX_SUBSCRIPTIONS} per session`, async () => {
    const batch = JSON.stringify(
      Array.from({ length: MAX_SUBSCRIPTIONS }, (_, i) => ({
        jsonrpc: "2.0",
        id: i,
        method: "stream_subscribeLogs",
      })),
    );
    const [reply] = await roundTrip(batch);
    const ids = new Set((JSON.parse(reply as string) as { result: number }[]).map((r) => r.result));
    expect(ids.size).toBe(MAX_SUBSCRIPTIONS);
    expect(d().subscribers()).toBe(MAX_SUBSCRIPTIONS);
    expect(await roundTrip('{"jsonrpc":"2.0","id":"x","method":"stream_subscribeLogs"}')).toEqual([
      '{"jsonrpc":"2.0","error":{"code":-32603,"message":"Too many subscriptions on the connection","data":"Exceeded max limit of 1024"},"id":"x"}',
    ]);
    expect(d().subscribers()).toBe(MAX_SUBSCRIPTIONS);
  });

  test("without a notification channel, subscribing is -32603", async () => {
    const out: string[] = [];
    const plain = new RpcSession(table, (m) => out.push(m), { subscriptions: false });
    await plain.handleText('{"jsonrpc":"2.0","id":1,"method":"stream_subscribeLogs"}');
    await plain.handleText(
      '{"jsonrpc":"2.0","id":2,"method":"stream_unsubscribeLogs","params":[1]}',
    );
    const err =
      '{"code":-32603,"message":"Internal error","data":"subscriptions need a WebSocket or the unix socket, not plain HTTP"}';
    expect(out).toEqual([
      `{"jsonrpc":"2.0","error":${err},"id":1}`,
      `{"jsonrpc":"2.0","error":${err},"id":2}`,
    ]);
    expect(d().subscribers()).toBe(0);
  });
});

describe("handleHttpBody", () => {
  test("returns the reply text, or null for notifications only", async () => {
    await daemon("a");
    expect(
      await handleHttpBody(table, '{"jsonrpc":"2.0","id":1,"method":"service_list","params":{}}'),
    ).toBe('{"jsonrpc":"2.0","result":{"a":"Running"},"id":1}');
    expect(await handleHttpBody(table, '{"jsonrpc":"2.0","method":"service_list"}')).toBeNull();
    expect(await handleHttpBody(table, "nope")).toBe(PARSE_ERROR);
    expect(
      await handleHttpBody(
        table,
        '[{"jsonrpc":"2.0","id":1,"method":"service_list"},{"jsonrpc":"2.0","id":2,"method":"stream_subscribeLogs"}]',
      ),
    ).toBe(
      '[{"jsonrpc":"2.0","result":{"a":"Running"},"id":1},{"jsonrpc":"2.0","error":{"code":-32603,"message":"Internal error","data":"subscriptions need a WebSocket or the unix socket, not plain HTTP"},"id":2}]',
    );
    expect(d().subscribers()).toBe(0);
  });

  test("waits for slow methods", async () => {
    const z = await daemon("a");
    const a = z.sys.find("a");
    a.reactions.set(SIGTERM, "ignore");
    let answered = false;
    const reply = handleHttpBody(
      table,
      '{"jsonrpc":"2.0","id":1,"method":"service_stop","params":["a"]}',
    ).finally(() => {
      answered = true;
    });
    await z.sys.flush();
    expect(a.signals).toEqual([SIGTERM]);
    expect(answered).toBe(false);
    z.sys.exit(a.pid, { kind: "exited", code: 0 });
    expect(await z.settle(reply)).toBe('{"jsonrpc":"2.0","result":null,"id":1}');
  });
});

test("a congested peer misses subscription items and is told how many before the next one", async () => {
  const z = await daemon();
  const sent: string[] = [];
  let congested = false;
  const session = new RpcSession(z.table, (m) => sent.push(m), {
    congested: () => congested,
  });
  await session.handleText('{"jsonrpc":"2.0","id":1,"method":"stream_subscribeLogs","params":[]}');
  const subId = JSON.parse(sent[0] ?? "{}").result;
  const result = (m: string) => JSON.parse(m).params.result;
  pushLine(z.ring, "[+] a: 1");
  congested = true;
  pushLine(z.ring, "[+] a: 2");
  pushLine(z.ring, "[+] a: 3");
  congested = false;
  pushLine(z.ring, "[+] a: 4");
  expect(sent.slice(1).map(result)).toEqual(["[+] a: 1", "[-] zinit: 2 lines dropped", "[+] a: 4"]);
  expect(JSON.parse(sent[2] ?? "{}").params.subscription).toBe(subId);
  // Lines dropped at the end of a burst are reported once the transport has drained.
  congested = true;
  pushLine(z.ring, "[+] a: 5");
  session.outputEmptied(); // still congested: nothing yet
  expect(sent).toHaveLength(4);
  congested = false;
  session.outputEmptied();
  expect(sent.slice(4).map(result)).toEqual(["[-] zinit: 1 lines dropped"]);
  session.outputEmptied();
  expect(sent).toHaveLength(5);
  session.close();
});
