import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type SocketServer, serveUnix } from "../../src/api/unix.ts";
import { Conn, TIMEOUT } from "../helpers/conn.ts";
import { type TestDaemon, testDaemon } from "../helpers/daemon.ts";
import { pushLine } from "../helpers/lines.ts";

const LIST = '{"jsonrpc":"2.0","id":1,"method":"service_list"}';

let dir: string;
let server: SocketServer;
let t: TestDaemon;

const listReply = (id: unknown) => ({ jsonrpc: "2.0", result: { redis: "Running" }, id });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "zinit-unix-"));
  t = await testDaemon({ files: { redis: "exec: redis-server\n" }, pids: { redis: 42 } });
  server = await serveUnix(join(dir, "sub", "zinit.sock"), t.table, t.daemon);
});

afterAll(() => {
  server.close();
  t.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("binding", () => {
  test("creates the parent dir and chmods the socket to 0600", () => {
    expect(statSync(server.path).isSocket()).toBe(true);
    expect(statSync(server.path).mode & 0o777).toBe(0o600);
  });

  test("a custom mode is applied", async () => {
    const path = join(dir, "mode.sock");
    const s = await serveUnix(path, t.table, t.daemon, { mode: 0o660 });
    expect(statSync(path).mode & 0o777).toBe(0o660);
    s.close();
    expect(existsSync(path)).toBe(false);
  });

  test("refuses to steal the socket of a live server and leaves it in place", async () => {
    await expect(serveUnix(server.path, t.table, t.daemon)).rejects.toThrow(
      `another zinit is already listening on ${server.path}`,
    );
    expect(statSync(server.path).isSocket()).toBe(true);
    const c = new Conn(server.path);
    c.sock.write(LIST);
    expect(await c.count(1)).toEqual([listReply(1)]);
    c.sock.destroy();
  });

  test("a path too long for sun_path is a clear error", async () => {
    const path = join(dir, `${"a".repeat(120)}.sock`);
    await expect(serveUnix(path, t.table, t.daemon)).rejects.toThrow(
      `socket path is longer than 107 bytes: ${path}`,
    );
  });

  test("replaces the socket of a dead server", async () => {
    const path = join(dir, "dead.sock");
    const child = Bun.spawn(
      [
        process.execPath,
        "-e",
        `Bun.listen({ unix: ${JSON.stringify(path)}, socket: { data() {} } }); console.log("up"); setInterval(() => {}, 1000);`,
      ],
      { stdout: "pipe" },
    );
    const reader = child.stdout.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("up\n");
    child.kill("SIGKILL");
    await child.exited;
    expect(statSync(path).isSocket()).toBe(true);
    const s = await serveUnix(path, t.table, t.daemon);
    const c = new Conn(path);
    c.sock.write(LIST);
    expect(await c.count(1)).toEqual([listReply(1)]);
    c.sock.destroy();
    s.close();
  });

  test("replaces a stale file", async () => {
    const path = join(dir, "stale.sock");
    writeFileSync(path, "left over");
    const s = await serveUnix(path, t.table, t.daemon);
    expect(statSync(path).isSocket()).toBe(true);
    const c = new Conn(path);
    c.sock.write(LIST);
    expect(await c.count(1)).toEqual([listReply(1)]);
    c.sock.destroy();
    s.close();
  });
});

describe("JSON-RPC framing on the socket", () => {
  test("newline-terminated request: one compact line back", async () => {
    const c = new Conn(server.path);
    c.sock.write(`${LIST}\n`);
    expect(await c.count(1)).toEqual([listReply(1)]);
    expect(c.lines[0]).toBe(JSON.stringify(JSON.parse(c.lines[0] as string)));
    c.sock.destroy();
  });

  test("request without newline", async () => {
    const c = new Conn(server.path);
    c.sock.write(LIST);
    expect(await c.count(1)).toEqual([listReply(1)]);
    c.sock.destroy();
  });

  test("two requests in one write, persistent connection", async () => {
    const c = new Conn(server.path);
    c.sock.write(`${LIST}${LIST.replace('"id":1', '"id":2')}`);
    const replies = await c.count(2);
    expect(replies.map((r) => (r as { id: number }).id).sort()).toEqual([1, 2]);
    c.sock.write(`  \n${LIST.replace('"id":1', '"id":"three"')}\n`);
    expect((await c.count(3))[2]).toEqual(listReply("three"));
    c.sock.destroy();
  });

  test("one request split into 1-byte writes", async () => {
    const c = new Conn(server.path);
    const bytes = Buffer.from(`${LIST}\n`);
    for (const b of bytes) {
      await new Promise<void>((resolve) => c.sock.write(Buffer.from([b]), () => resolve()));
    }
    expect(await c.count(1)).toEqual([listReply(1)]);
    c.sock.destroy();
  });

  test("a batch", async () => {
    const c = new Conn(server.path);
    c.sock.write(`[${LIST},${LIST.replace('"id":1', '"id":2')}]`);
    // A batch reply is one line holding an array, which Reply does not describe.
    expect((await c.count(1)) as unknown[]).toEqual([[listReply(1), listReply(2)]]);
    c.sock.destroy();
  });

  test("garbage gets parse errors and the next valid frame still answers", async () => {
    const c = new Conn(server.path);
    c.sock.write(`{"jsonrpc":"2.0","id":1,"method":}\nnot json at all\n${LIST}`);
    const replies = await c.count(3);
    const parseError = {
      jsonrpc: "2.0",
      error: { code: -32700, message: "Parse error" },
      id: null,
    };
    expect(replies.filter((r) => (r as { id: unknown }).id === null)).toEqual([
      parseError,
      parseError,
    ]);
    expect(replies.filter((r) => (r as { id: unknown }).id === 1)).toEqual([listReply(1)]);
    c.sock.destroy();
  });

  test("a 20 MiB request is rejected and the connection closed; the server keeps serving", async () => {
    const c = new Conn(server.path);
    const big = `{"jsonrpc":"2.0","id":1,"method":"service_list","params":["${"x".repeat(20 * 1024 * 1024)}"]}`;
    c.sock.write(big);
    await c.waitClosed();
    expect(c.lines).toEqual([
      '{"jsonrpc":"2.0","error":{"code":-32007,"message":"Request is too big","data":"Exceeded max limit of 10485760"},"id":null}',
    ]);
    const d = new Conn(server.path);
    d.sock.write(LIST);
    expect(await d.count(1)).toEqual([listReply(1)]);
    d.sock.destroy();
  });

  test("half-close: replies are flushed before the server closes", async () => {
    const c = new Conn(server.path);
    c.sock.end(`${LIST}${LIST.replace('"id":1', '"id":2')}`);
    await c.waitClosed();
    expect(c.lines.map((l) => JSON.parse(l).id).sort()).toEqual([1, 2]);
  });

  test("half-close with an unfinished frame answers a parse error", async () => {
    const c = new Conn(server.path);
    c.sock.end('{"jsonrpc":"2.0","id":1');
    await c.waitClosed();
    expect(c.lines.map((l) => JSON.parse(l))).toEqual([
      { jsonrpc: "2.0", error: { code: -32700, message: "Parse error" }, id: null },
    ]);
  });

  test("200 concurrent connections all get answers", async () => {
    const clients = Array.from({ length: 200 }, () => new Conn(server.path));
    clients.forEach((c, i) => {
      c.sock.write(LIST.replace('"id":1', `"id":${i}`));
    });
    const replies = await Promise.all(clients.map((c) => c.count(1)));
    replies.forEach((r, i) => {
      expect(r).toEqual([listReply(i)]);
    });
    for (const c of clients) c.sock.destroy();
  });

  test("log subscription notifications arrive as lines on the same connection", async () => {
    const c = new Conn(server.path);
    c.sock.write('{"jsonrpc":"2.0","id":5,"method":"stream_subscribeLogs","params":["redis"]}');
    const [sub] = (await c.count(1)) as { result: number; id: number }[];
    expect(sub?.id).toBe(5);
    pushLine(t.ring, "[+] redis: hello");
    pushLine(t.ring, "[+] other: skipped");
    pushLine(t.ring, "[-] redis: world");
    const lines: unknown[] = await c.count(3);
    expect(lines.slice(1)).toEqual([
      {
        jsonrpc: "2.0",
        method: "stream_subscribeLogs",
        params: { subscription: sub?.result, result: "[+] redis: hello" },
      },
      {
        jsonrpc: "2.0",
        method: "stream_subscribeLogs",
        params: { subscription: sub?.result, result: "[-] redis: world" },
      },
    ]);
    const before = t.subscribers();
    c.sock.destroy();
    await c.closed;
    const deadline = Date.now() + TIMEOUT;
    while (t.subscribers() >= before && Date.now() < deadline) await Bun.sleep(5);
    expect(t.subscribers()).toBe(before - 1);
  });

  test("a slow reader under the cap gets every line, in order, after the queue drains", async () => {
    const c = new Conn(server.path);
    c.sock.write('{"jsonrpc":"2.0","id":1,"method":"stream_subscribeLogs","params":["slow"]}');
    const [sub] = (await c.count(1)) as { result: number }[];
    c.sock.pause();
    const N = 6000;
    // ~3 MB: well past the kernel buffers, so writes go partial and the queue fills.
    for (let i = 0; i < N; i++) pushLine(t.ring, `[+] slow: ${i} ${"q".repeat(500)}`);
    c.sock.resume();
    const lines = (await c.count(N + 1)) as {
      params: { subscription: number; result: string };
    }[];
    expect(lines.length).toBe(N + 1);
    lines.slice(1).forEach((l, i) => {
      expect(l.params.subscription).toBe(sub?.result as number);
      expect(l.params.result).toBe(`[+] slow: ${i} ${"q".repeat(500)}`);
    });
    c.sock.destroy();
  });

  test("a follower that stops reading loses lines, is told how many, and stays connected", async () => {
    const path = join(dir, "bp.sock");
    const s = await serveUnix(path, t.table, t.daemon, {
      limits: { maxQueued: 256 * 1024 },
    });
    const c = new Conn(path);
    c.sock.write('{"jsonrpc":"2.0","id":1,"method":"stream_subscribeLogs","params":[]}');
    await c.count(1);
    const subscribed = t.subscribers();
    c.sock.pause();
    const line = `[+] redis: ${"y".repeat(1000)}`;
    // 20 MB: far more than the kernel socket buffers plus the cap.
    const flood = 20_000;
    for (let i = 0; i < flood; i++) pushLine(t.ring, line);
    expect(t.subscribers()).toBe(subscribed);
    c.sock.resume();
    // Once the backlog has drained, the next line is preceded by upstream's lag line.
    let markers = 0;
    const dropNote = /^\[-\] zinit: (\d+) lines dropped$/;
    const notes = () => c.lines.filter((l) => l.includes("lines dropped"));
    while (notes().length === 0 && markers < 2000) {
      pushLine(t.ring, `[+] redis: marker ${markers++}`);
      await Bun.sleep(10);
    }
    // The note may come on its own once the queue drains; one more line follows it.
    const seen = c.lines.length;
    pushLine(t.ring, `[+] redis: marker ${markers++}`);
    await c.count(seen + 1);
    const msgs = c.messages.slice(1);
    const noteAt = msgs.findIndex((m) => dropNote.test(m.params?.result ?? ""));
    expect(noteAt).toBeGreaterThan(0);
    const dropped = Number(dropNote.exec(msgs[noteAt]?.params?.result ?? "")?.[1]);
    // Every line pushed before the note was either delivered or counted as dropped.
    const delivered = msgs.slice(0, noteAt).map((m) => m.params?.result);
    expect(delivered.every((r) => r === line || r?.startsWith("[+] redis: marker"))).toBe(true);
    // The first line after the note is marker k: the flood and markers 0..k-1 came before it.
    const k = Number(/marker (\d+)/.exec(msgs[noteAt + 1]?.params?.result ?? "")?.[1]);
    expect(delivered.length + dropped).toBe(flood + k);
    expect(dropped).toBeGreaterThan(0);
    const d = new Conn(path);
    d.sock.write(LIST);
    expect(await d.count(1)).toEqual([listReply(1)]);
    d.sock.destroy();
    c.sock.destroy();
    s.close();
  });
});
