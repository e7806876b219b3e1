import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type HttpServer, parseAddress, serveHttp } from "../../src/api/http.ts";
import { type TestDaemon, testDaemon } from "../helpers/daemon.ts";
import { pushLine } from "../helpers/lines.ts";

const TIMEOUT = 15_000;
const LIST = '{"jsonrpc":"2.0","id":1,"method":"service_list","params":{}}';
const LIST_REPLY = { jsonrpc: "2.0", result: { redis: "Running" }, id: 1 };

let t: TestDaemon;
let server: HttpServer;
let url: string;

beforeAll(async () => {
  t = await testDaemon({ files: { redis: "exec: redis-server\n" }, pids: { redis: 42 } });
  server = await serveHttp("127.0.0.1:0", t.table);
  url = `http://${server.address}/`;
});

afterAll(async () => {
  await server.stop();
  t.close();
});

const post = (body: string, type = "application/json", path = "") =>
  fetch(`${url}${path}`, { method: "POST", headers: { "content-type": type }, body });

describe("address parsing", () => {
  test("host:port and [v6]:port", () => {
    expect(parseAddress("127.0.0.1:8080")).toEqual({ host: "127.0.0.1", port: 8080 });
    expect(parseAddress("localhost:0")).toEqual({ host: "localhost", port: 0 });
    expect(parseAddress("[::1]:65535")).toEqual({ host: "::1", port: 65535 });
  });

  test("bad syntax is upstream's error", () => {
    for (const bad of [
      "",
      "8080",
      "127.0.0.1",
      "::1:80",
      "host:65536",
      "host:-1",
      "host:",
      ":80",
      "a b:80",
    ]) {
      expect(() => parseAddress(bad)).toThrow("Failed to parse socket address");
    }
  });

  test("a hostname is resolved (upstream #34)", async () => {
    const s = await serveHttp("localhost:0", t.table);
    expect(s.address).toMatch(/^(127\.0\.0\.1:\d+|\[::1\]:\d+)$/);
    const res = await post(LIST, "application/json");
    expect(res.status).toBe(200);
    await s.stop();
  });

  test("IPv6 literal", async () => {
    const s = await serveHttp("[::1]:0", t.table);
    expect(s.address).toMatch(/^\[::1\]:\d+$/);
    const res = await fetch(`http://${s.address}/`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: LIST,
    });
    expect(await res.json()).toEqual(LIST_REPLY);
    await s.stop();
  });

  test("a port in use gives the OS error text", async () => {
    await expect(serveHttp(server.address, t.table)).rejects.toThrow(
      "Address already in use (os error 98)",
    );
  });
});

describe("HTTP", () => {
  test("POST on any path with each allowed content type → 200 JSON, no CORS headers by default", async () => {
    for (const type of [
      "application/json",
      "application/json; charset=utf-8",
      "application/json;charset=utf-8",
      "application/json-rpc",
      "application/json-rpc; charset=utf-8",
      "application/json-rpc;charset=utf-8",
      "Application/JSON",
    ]) {
      const res = await post(LIST, type, "some/path");
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
      // Upstream sent `*`: any web page could read (and drive) the API.
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
      expect(await res.json()).toEqual(LIST_REPLY);
    }
  });

  test("a notification gets an empty 200", async () => {
    const res = await post('{"jsonrpc":"2.0","method":"service_list"}');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("");
  });

  test("a parse error is still HTTP 200", async () => {
    const res = await post("{nope");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      jsonrpc: "2.0",
      error: { code: -32700, message: "Parse error" },
      id: null,
    });
  });

  test("other content type → 415 with upstream's text", async () => {
    for (const type of [
      "text/plain",
      "application/json; charset=latin1",
      "application/x-www-form-urlencoded",
    ]) {
      const res = await post(LIST, type);
      expect(res.status).toBe(415);
      expect(await res.text()).toBe(
        "Supplied content type is not allowed. Content-Type: application/json is required",
      );
    }
  });

  test("other methods → 405 with upstream's text", async () => {
    for (const method of ["GET", "PUT", "DELETE", "PATCH"]) {
      const res = await fetch(url, { method });
      expect(res.status).toBe(405);
      expect(await res.text()).toBe("Used HTTP Method is not allowed. POST is required");
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
    }
  });

  test("CORS preflight: refused by default, answered for an origin given to --cors-origin", async () => {
    const preflight = (target: string) =>
      fetch(target, {
        method: "OPTIONS",
        headers: {
          origin: "https://playground.open-rpc.org",
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type",
        },
      });
    expect((await preflight(url)).status).toBe(403);
    const access = {
      corsOrigins: ["https://playground.open-rpc.org"],
      allowHosts: [],
      token: null,
    };
    const s = await serveHttp("127.0.0.1:0", t.table, { access: () => access });
    const res = await preflight(`http://${s.address}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://playground.open-rpc.org");
    expect(res.headers.get("access-control-allow-methods")).toBe("POST, OPTIONS");
    expect(res.headers.get("access-control-allow-headers")).toBe("content-type, authorization");
    await s.stop();
  });

  test("a body over 10 MiB → 413, and the server still answers", async () => {
    const big = `{"jsonrpc":"2.0","id":1,"method":"service_list","params":["${"x".repeat(10 * 1024 * 1024)}"]}`;
    const res = await post(big);
    expect(res.status).toBe(413);
    const ok = await post(LIST);
    expect(await ok.json()).toEqual(LIST_REPLY);
  });

  test("stop() frees the port", async () => {
    const s = await serveHttp("127.0.0.1:0", t.table);
    const address = s.address;
    await s.stop();
    const again = await serveHttp(address, t.table);
    expect(again.address).toBe(address);
    await again.stop();
  });
});

describe("WebSocket", () => {
  function open(): Promise<{ ws: WebSocket; next: () => Promise<unknown> }> {
    const ws = new WebSocket(`ws://${server.address}/any/path`);
    const queue: unknown[] = [];
    const waiters: ((v: unknown) => void)[] = [];
    ws.onmessage = (ev) => {
      const v = JSON.parse(String(ev.data));
      const w = waiters.shift();
      if (w) w(v);
      else queue.push(v);
    };
    const next = () =>
      new Promise<unknown>((resolve, reject) => {
        if (queue.length > 0) return resolve(queue.shift());
        const timer = setTimeout(() => reject(new Error("no message")), TIMEOUT);
        waiters.push((v) => {
          clearTimeout(timer);
          resolve(v);
        });
      });
    return new Promise((resolve, reject) => {
      ws.onopen = () => resolve({ ws, next });
      ws.onerror = () => reject(new Error("ws error"));
    });
  }

  test("calls and a log subscription over one socket", async () => {
    const { ws, next } = await open();
    ws.send(LIST);
    expect(await next()).toEqual(LIST_REPLY);
    const listeners = t.subscribers();
    ws.send('{"jsonrpc":"2.0","id":2,"method":"stream_subscribeLogs","params":["redis"]}');
    const sub = (await next()) as { id: number; result: number };
    expect(sub.id).toBe(2);
    expect(t.subscribers()).toBe(listeners + 1);
    pushLine(t.ring, "[+] other: not this");
    pushLine(t.ring, "[+] redis: hello");
    expect(await next()).toEqual({
      jsonrpc: "2.0",
      method: "stream_subscribeLogs",
      params: { subscription: sub.result, result: "[+] redis: hello" },
    });
    const closed = new Promise((resolve) => {
      ws.onclose = resolve;
    });
    ws.close();
    await closed;
    const deadline = Date.now() + TIMEOUT;
    while (t.subscribers() > listeners && Date.now() < deadline) await Bun.sleep(5);
    expect(t.subscribers()).toBe(listeners);
  });

  test("a lagging follower loses lines instead of buffering without bound, and is told", async () => {
    const s = await serveHttp("127.0.0.1:0", t.table, {
      limits: { maxQueued: 64 * 1024 },
    });
    const listeners = t.subscribers();
    // A raw client that completes the upgrade and then never reads.
    const key = Buffer.from("0123456789abcdef").toString("base64");
    const [host, port] = s.address.split(":");
    let received = "";
    let closed = false;
    const sock = await Bun.connect({
      hostname: host as string,
      port: Number(port),
      socket: {
        data(_s, d) {
          received += d.toString("latin1");
        },
        close() {
          closed = true;
        },
      },
    });
    sock.write(
      `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    let deadline = Date.now() + TIMEOUT;
    while (!received.includes("\r\n\r\n") && Date.now() < deadline) await Bun.sleep(5);
    expect(received.startsWith("HTTP/1.1 101")).toBe(true);
    // A masked client frame carrying the subscribe request.
    const payload = Buffer.from(
      '{"jsonrpc":"2.0","id":1,"method":"stream_subscribeLogs","params":[]}',
    );
    const mask = Buffer.from([1, 2, 3, 4]);
    const frame = Buffer.concat([
      Buffer.from([0x81, 0x80 | payload.length]),
      mask,
      Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] as number))),
    ]);
    sock.write(frame);
    deadline = Date.now() + TIMEOUT;
    while (t.subscribers() === listeners && Date.now() < deadline) await Bun.sleep(5);
    expect(t.subscribers()).toBe(listeners + 1);
    sock.pause();
    const line = `[+] redis: ${"z".repeat(1000)}`;
    // 50 MB while the client reads nothing: lines are dropped, the subscription stays.
    for (let i = 0; i < 50_000; i++) {
      pushLine(t.ring, line);
      if (i % 100 === 0) await Bun.sleep(0);
    }
    expect(t.subscribers()).toBe(listeners + 1);
    expect(closed).toBe(false);
    sock.resume();
    // Once it reads again, the next line comes after upstream's lag line.
    deadline = Date.now() + TIMEOUT;
    for (let i = 0; !/zinit: \d+ lines dropped/.test(received) && Date.now() < deadline; i++) {
      pushLine(t.ring, `[+] redis: marker ${i}`);
      await Bun.sleep(10);
    }
    expect(received).toMatch(/"result":"\[-\] zinit: \d+ lines dropped"/);
    expect(closed).toBe(false);
    sock.end();
    await s.stop();
  });
});
