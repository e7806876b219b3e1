// What one connection (or all together) can make the socket hold: batch length, batch reply size,
// unread replies, unfinished frames and their idle timeout. Against the real daemon over the fake
// Sys (test/helpers/daemon.ts).

import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serveHttp } from "../../src/api/http.ts";
import { handleHttpBody } from "../../src/api/jsonrpc.ts";
import { type ApiLimits, Budget, DEFAULT_LIMITS } from "../../src/api/limits.ts";
import { type SocketServer, serveUnix } from "../../src/api/unix.ts";
import { Conn } from "../helpers/conn.ts";
import { type TestDaemon, testDaemon } from "../helpers/daemon.ts";
import { sendHttp } from "../helpers/http.ts";
import { pushLine } from "../helpers/lines.ts";

let t: TestDaemon | null = null;
let server: SocketServer | null = null;
let dir = "";

afterEach(() => {
  server?.close();
  server = null;
  t?.close();
  t = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = "";
});

async function serve(
  limits: Partial<ApiLimits> = {},
  budget?: Budget,
  connections?: Budget,
): Promise<string> {
  t = await testDaemon({ files: { web: "exec: server\n" } });
  dir = mkdtempSync(join(tmpdir(), "zinit-limits-"));
  server = await serveUnix(join(dir, "zinit.sock"), t.table, t.daemon, {
    limits,
    budget,
    connections,
  });
  return server.path;
}

const req = (id: number, method: string) => ({ jsonrpc: "2.0", id, method });

describe("batches", () => {
  test("a batch over --max-batch is refused with jsonrpsee's error, before any of it runs", async () => {
    const path = await serve({ maxBatch: 4 });
    const c = new Conn(path);
    const stops = Array.from({ length: 5 }, (_, i) => ({
      ...req(i, "service_stop"),
      params: ["web"],
    }));
    await c.send(`${JSON.stringify(stops)}\n`);
    expect(await c.count(1)).toEqual([
      {
        jsonrpc: "2.0",
        error: {
          code: -32010,
          message: "The batch request was too large",
          data: "Exceeded max limit of 4",
        },
        id: null,
      },
    ]);
    // Nothing ran: the service is still up, its process never signalled.
    expect(t?.daemon.status("web")).toMatchObject({ state: "Running", target: "Up" });
    expect(t?.sys.signalLog).toEqual([]);
    // The connection goes on; a batch at the limit answers in full.
    await c.send(
      `${JSON.stringify(Array.from({ length: 4 }, (_, i) => req(10 + i, "service_list")))}\n`,
    );
    const [, batch] = (await c.count(2)) as unknown as [unknown, unknown[]];
    expect(batch).toHaveLength(4);
    c.close();
  });

  test("a batch whose reply would pass --max-batch-reply gets one error, and costs no more", async () => {
    // rpc.discover answers ~40 KB for 50 bytes: 1000 of them would be ~40 MB.
    const path = await serve({ maxBatch: 2000, maxBatchReply: 1024 * 1024 });
    const c = new Conn(path);
    await c.send(
      `${JSON.stringify(Array.from({ length: 1000 }, (_, i) => req(i, "rpc.discover")))}\n`,
    );
    expect(await c.count(1)).toEqual([
      {
        jsonrpc: "2.0",
        error: {
          code: -32011,
          message: "The batch response was too large",
          data: "Exceeded max limit of 1048576",
        },
        id: null,
      },
    ]);
    expect(c.lines[0]?.length).toBeLessThan(200);
    c.close();
  });

  test("subscriptions of a batch whose reply is refused are cancelled", async () => {
    const path = await serve({ maxBatchReply: 2000 });
    const c = new Conn(path);
    const batch = [
      req(1, "stream_subscribeLogs"),
      ...Array.from({ length: 50 }, (_, i) => req(100 + i, "service_list")),
    ];
    await c.send(`${JSON.stringify(batch)}\n`);
    expect(((await c.count(1))[0] as { error: { code: number } }).error.code).toBe(-32011);
    pushLine(t!.ring, "[+] web: after");
    await c.send(`${JSON.stringify(req(2, "service_list"))}\n`);
    await c.count(2);
    // Only the second reply: no notification for the subscription nobody knows the id of.
    expect(c.lines).toHaveLength(2);
    c.close();
  });

  test("HTTP bodies obey the same batch limits", async () => {
    t = await testDaemon({});
    const limits = { ...DEFAULT_LIMITS, maxBatch: 2 };
    const body = JSON.stringify([
      req(1, "service_list"),
      req(2, "service_list"),
      req(3, "service_list"),
    ]);
    expect(JSON.parse((await handleHttpBody(t.table, body, limits)) ?? "")).toEqual({
      jsonrpc: "2.0",
      error: {
        code: -32010,
        message: "The batch request was too large",
        data: "Exceeded max limit of 2",
      },
      id: null,
    });
  });
});

describe("unread replies", () => {
  test("a client that sends without reading stops being read, then is dropped", async () => {
    const path = await serve({ maxQueued: 256 * 1024, writeTimeoutMs: 300 });
    const c = new Conn(path);
    c.sock.pause();
    // 20 MB of `{}`: each is an invalid request answered with ~70 bytes (upstream grew 549 MB).
    const junk = Buffer.from("{}".repeat(1024 * 1024));
    let written = 0;
    for (let i = 0; i < 10 && !c.sock.destroyed; i++) {
      if (!c.sock.write(junk)) await new Promise((r) => setTimeout(r, 20));
      written++;
    }
    await c.waitClosed();
    expect(written).toBeGreaterThan(0);
    // The server is fine and answers others.
    const d = new Conn(path);
    expect((await d.call(1, "service_list")).result).toEqual({ web: "Running" });
    d.close();
  });

  test("one reply bigger than the cap still arrives whole at a client that reads it", async () => {
    const path = await serve({ maxQueued: 64 * 1024 });
    for (let i = 0; i < 2000; i++) pushLine(t!.ring, `[+] web: ${i} ${"x".repeat(200)}`);
    const c = new Conn(path);
    const reply = await c.call(1, "stream_currentLogs", ["web"]);
    const lines = reply.result as string[];
    expect(lines).toHaveLength(2000);
    expect(lines[1999]).toBe(`[+] web: 1999 ${"x".repeat(200)}`);
    expect(c.lines[0]?.length).toBeGreaterThan(64 * 1024 * 6);
    c.close();
  });
});

describe("unfinished frames", () => {
  test("an unfinished frame idle past --frame-timeout is answered and closed", async () => {
    const path = await serve({ frameTimeoutMs: 200 });
    const c = new Conn(path);
    await c.send('{"jsonrpc":"2.0","id":1,"method":"service_li');
    await c.waitClosed();
    expect(c.messages).toEqual([
      {
        jsonrpc: "2.0",
        error: {
          code: -32700,
          message: "Parse error",
          data: "Unfinished request: no data for 0.2 s",
        },
        id: null,
      },
    ]);
  });

  test("a legacy command line idle past --frame-timeout is refused", async () => {
    const path = await serve({ frameTimeoutMs: 200 });
    const c = new Conn(path);
    await c.send("status we");
    await c.waitClosed();
    expect(c.lines).toEqual([]);
    expect(c.sock.bytesRead).toBe('{"state":"error","body":"command line timed out"}'.length);
  });

  test("unfinished frames of all connections share --max-unfinished; past it: server busy", async () => {
    const budget = new Budget(1024 * 1024);
    const path = await serve({}, budget);
    const parked = new Conn(path);
    await parked.send(
      `{"jsonrpc":"2.0","id":1,"method":"service_list","params":["${"p".repeat(700 * 1024)}`,
    );
    const deadline = Date.now() + 10_000;
    while (budget.inUse < 700 * 1024 && Date.now() < deadline) await Bun.sleep(5);
    expect(budget.inUse).toBeGreaterThanOrEqual(700 * 1024);
    const second = new Conn(path);
    await second.send(
      `{"jsonrpc":"2.0","id":2,"method":"service_list","params":["${"q".repeat(500 * 1024)}`,
    );
    await second.waitClosed();
    expect(second.messages).toEqual([
      {
        jsonrpc: "2.0",
        error: {
          code: -32009,
          message: "Server is busy, try again later",
          data: "Unfinished requests of all clients exceed 1048576 bytes",
        },
        id: null,
      },
    ]);
    // A complete request still goes through, and closing the parked one gives its bytes back.
    const third = new Conn(path);
    expect((await third.call(3, "service_list")).result).toEqual({ web: "Running" });
    parked.close();
    await parked.closed;
    const until = Date.now() + 10_000;
    while (budget.inUse > 0 && Date.now() < until) await Bun.sleep(5);
    expect(budget.inUse).toBe(0);
    third.close();
  });
});

/** Polls `cond` (a budget's count, which no event announces) for up to 10 s. */
async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond() && Date.now() < deadline) await Bun.sleep(5);
}

/** The status line of the answer to a WebSocket upgrade request. */
async function upgradeStatus(address: string): Promise<string> {
  const { text } = await sendHttp(
    address,
    `GET / HTTP/1.1\r\nHost: ${address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    true,
  );
  return text.slice(0, text.indexOf("\r\n"));
}

describe("connections", () => {
  const busy = (max: number) => ({
    jsonrpc: "2.0",
    error: {
      code: -32009,
      message: "Server is busy, try again later",
      data: `${max} connections are open, the most zinit takes (--max-connections)`,
    },
    id: null,
  });

  test("past --max-connections a new connection hears server busy and is closed; a freed slot is taken again", async () => {
    const connections = new Budget(2);
    const path = await serve({}, undefined, connections);
    const a = new Conn(path);
    const b = new Conn(path);
    expect((await a.call(1, "service_list")).result).toEqual({ web: "Running" });
    expect((await b.call(2, "service_list")).result).toEqual({ web: "Running" });
    const refused = new Conn(path);
    await refused.waitClosed();
    expect(refused.messages).toEqual([busy(2)]);
    expect(connections.inUse).toBe(2);
    a.close();
    await a.closed;
    await until(() => connections.inUse === 1);
    expect(connections.inUse).toBe(1);
    const c = new Conn(path);
    expect((await c.call(3, "service_list")).result).toEqual({ web: "Running" });
    expect(connections.inUse).toBe(2);
    b.close();
    c.close();
  });

  test("WebSockets share the cap with the unix socket: past it the upgrade gets 503", async () => {
    const connections = new Budget(2);
    const path = await serve({}, undefined, connections);
    const http = await serveHttp("127.0.0.1:0", t!.table, { connections });
    try {
      const unixConn = new Conn(path);
      expect((await unixConn.call(1, "service_list")).result).toEqual({ web: "Running" });
      const ws = new WebSocket(`ws://${http.address}/`);
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = reject;
      });
      expect(connections.inUse).toBe(2);
      expect(await upgradeStatus(http.address)).toBe("HTTP/1.1 503 Service Unavailable");
      ws.close();
      await until(() => connections.inUse === 1);
      expect(await upgradeStatus(http.address)).toBe("HTTP/1.1 101 Switching Protocols");
      unixConn.close();
    } finally {
      await http.stop();
    }
  });
});
