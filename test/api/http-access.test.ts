// Who may use the HTTP API: forged Origin and Host (a page in a local browser, DNS rebinding), the
// bearer token, open GET routes, and the methods that could widen access. Raw requests are used
// because fetch() will not forge Host or Origin.

import { afterEach, describe, expect, test } from "bun:test";
import { type HttpAccess, type HttpServer, hostAllowed, serveHttp } from "../../src/api/http.ts";
import { createHttpHost, type HttpHostHandle } from "../../src/api/http-host.ts";
import { createMethodTable } from "../../src/api/methods.ts";
import { type TestDaemon, testDaemon } from "../helpers/daemon.ts";
import { rawHttp } from "../helpers/http.ts";

let t: TestDaemon | null = null;
let server: HttpServer | null = null;
let host: HttpHostHandle | null = null;

afterEach(async () => {
  await server?.stop();
  server = null;
  await host?.close();
  host = null;
  t?.close();
  t = null;
});

const LIST = '{"jsonrpc":"2.0","id":1,"method":"service_list"}';

const post = (address: string, headers: string, body = LIST) =>
  rawHttp(address, `POST / HTTP/1.1\r\n${headers}Content-Type: application/json\r\n`, body);

async function start(access: Partial<HttpAccess> = {}, openRoutes?: Map<string, () => Response>) {
  t = await testDaemon({ files: { web: "exec: server\n" } });
  const policy: HttpAccess = { corsOrigins: [], allowHosts: [], token: null, ...access };
  server = await serveHttp("127.0.0.1:0", t.table, { access: () => policy, openRoutes });
  return server.address;
}

describe("Host and Origin", () => {
  test("by default: loopback Host only, no CORS headers; a forged Host or any Origin is 403", async () => {
    const a = await start();
    const ok = await post(a, `Host: ${a}\r\n`);
    expect(ok.status).toBe(200);
    expect(ok.text.toLowerCase()).not.toContain("access-control-allow-origin");
    expect((await post(a, "Host: localhost:8080\r\n")).status).toBe(200);
    // DNS rebinding: the page's own name reaches us as Host.
    const rebound = await post(a, "Host: attacker.example:8080\r\n");
    expect(rebound.status).toBe(403);
    expect(rebound.text).toContain("Host not allowed");
    // A page on another origin, even with a good Host.
    const page = await post(a, `Host: ${a}\r\nOrigin: http://evil.example\r\n`);
    expect(page.status).toBe(403);
    expect(page.text).toContain("Origin not allowed");
    const preflight = await rawHttp(
      a,
      `OPTIONS / HTTP/1.1\r\nHost: ${a}\r\nOrigin: http://evil.example\r\nAccess-Control-Request-Method: POST\r\n`,
    );
    expect(preflight.status).toBe(403);
    // Refused before running: nothing was created or changed.
    const create = await post(
      a,
      "Host: attacker.example\r\n",
      '{"jsonrpc":"2.0","id":1,"method":"system_shutdown"}',
    );
    expect(create.status).toBe(403);
    expect(t?.powered).toEqual([]);
    expect(t?.daemon.status("web").target).toBe("Up");
  });

  test("--cors-origin and --allow-host open exactly what they name", async () => {
    const a = await start({ corsOrigins: ["https://ui.example"], allowHosts: ["zinit.lan"] });
    const ok = await post(a, "Host: zinit.lan:8080\r\nOrigin: https://ui.example\r\n");
    expect(ok.status).toBe(200);
    expect(ok.text.toLowerCase()).toContain("access-control-allow-origin: https://ui.example");
    const pre = await rawHttp(
      a,
      `OPTIONS / HTTP/1.1\r\nHost: ${a}\r\nOrigin: https://ui.example\r\nAccess-Control-Request-Method: POST\r\n`,
    );
    expect(pre.status).toBe(200);
    expect(pre.text.toLowerCase()).toContain("access-control-allow-methods: post, options");
    expect((await post(a, "Host: other.lan\r\nOrigin: https://ui.example\r\n")).status).toBe(403);
    expect((await post(a, `Host: ${a}\r\nOrigin: https://ui.example.evil\r\n`)).status).toBe(403);
  });

  test("hostAllowed: IP literals of the bind, loopback names; a wildcard bind takes any literal", () => {
    const none: HttpAccess = { corsOrigins: [], allowHosts: [], token: null };
    expect(hostAllowed("127.0.0.1:80", "127.0.0.1", none)).toBe(true);
    expect(hostAllowed("[::1]:80", "127.0.0.1", none)).toBe(true);
    expect(hostAllowed("LOCALHOST.", "127.0.0.1", none)).toBe(true);
    expect(hostAllowed("10.0.0.5:8080", "127.0.0.1", none)).toBe(false);
    expect(hostAllowed("10.0.0.5:8080", "10.0.0.5", none)).toBe(true);
    expect(hostAllowed("10.0.0.5:8080", "0.0.0.0", none)).toBe(true);
    expect(hostAllowed("evil.example", "0.0.0.0", none)).toBe(false);
    expect(hostAllowed(null, "127.0.0.1", none)).toBe(true);
  });
});

describe("token", () => {
  test("when set, every request needs it (HTTP and the WebSocket upgrade)", async () => {
    const a = await start({ token: "s3cret" });
    const none = await post(a, `Host: ${a}\r\n`);
    expect(none.status).toBe(401);
    expect(none.text.toLowerCase()).toContain('www-authenticate: bearer realm="zinit"');
    expect((await post(a, `Host: ${a}\r\nAuthorization: Bearer wrong\r\n`)).status).toBe(401);
    expect((await post(a, `Host: ${a}\r\nAuthorization: Bearer s3cret\r\n`)).status).toBe(200);
    const key = Buffer.from("0123456789abcdef").toString("base64");
    const upgrade = (auth: string) =>
      rawHttp(
        a,
        `GET / HTTP/1.1\r\nHost: ${a}\r\n${auth}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`,
      );
    expect((await upgrade("")).status).toBe(401);
    const ws = new WebSocket(`ws://${a}/`, {
      headers: { Authorization: "Bearer s3cret" },
    } as never);
    const reply = await new Promise<string>((resolve, reject) => {
      ws.onopen = () => ws.send(LIST);
      ws.onmessage = (ev) => resolve(String(ev.data));
      ws.onerror = () => reject(new Error("ws error"));
    });
    expect(JSON.parse(reply).result).toEqual({ web: "Running" });
    ws.close();
  });

  test("open GET routes skip Host, Origin and token; everything else on them keeps the checks", async () => {
    const routes = new Map([["/healthz", () => new Response("ok")]]);
    const a = await start({ token: "s3cret" }, routes);
    // kubelet: the pod IP as Host, no token.
    const probe = await rawHttp(a, "GET /healthz HTTP/1.1\r\nHost: 10.1.2.3:8080\r\n");
    expect(probe.status).toBe(200);
    expect(probe.text.endsWith("ok")).toBe(true);
    expect(
      (
        await rawHttp(
          a,
          "POST /healthz HTTP/1.1\r\nHost: 10.1.2.3\r\nContent-Type: application/json\r\n",
          LIST,
        )
      ).status,
    ).toBe(403);
    expect(
      (
        await rawHttp(
          a,
          `POST /healthz HTTP/1.1\r\nHost: ${a}\r\nContent-Type: application/json\r\n`,
          LIST,
        )
      ).status,
    ).toBe(401);
    expect((await rawHttp(a, "GET /other HTTP/1.1\r\nHost: 10.1.2.3\r\n")).status).toBe(403);
  });
});

describe("widening access over HTTP", () => {
  async function hosted(token: string | null) {
    t = await testDaemon({});
    const table = createMethodTable(t.daemon, { files: t.files, http: httpHost() });
    function httpHost() {
      host = createHttpHost(() => table, { onStart: () => {}, access: { token } });
      return host;
    }
    const h = host as HttpHostHandle;
    const first = await h.start("127.0.0.1:0");
    return { h, first };
  }

  const auth = (token: string | null) => (token ? `Authorization: Bearer ${token}\r\n` : "");

  test("without a token, an HTTP client cannot move the API or change who may use it", async () => {
    const { h, first } = await hosted(null);
    const move = await post(
      first,
      `Host: ${first}\r\n`,
      '{"jsonrpc":"2.0","id":1,"method":"system_start_http_server","params":["0.0.0.0:0"]}',
    );
    expect(JSON.parse(move.text.slice(move.text.indexOf("\r\n\r\n") + 4)).error).toMatchObject({
      code: -32603,
      message:
        "starting http server: only allowed over the unix socket unless the HTTP API has a token (zinit init --token-file)",
    });
    const widen = await post(
      first,
      `Host: ${first}\r\n`,
      '{"jsonrpc":"2.0","id":1,"method":"system_http_access","params":[{"cors_origins":["*"]}]}',
    );
    expect(widen.text).toContain("configuring http access: only allowed over the unix socket");
    expect(h.state()).toMatchObject({ address: first, cors_origins: [] });
  });

  test("with a token, an authenticated HTTP client may", async () => {
    const { h, first } = await hosted("tok");
    // The reply may be lost with the old server (as upstream's); the move itself is what counts.
    await post(
      first,
      `Host: ${first}\r\n${auth("tok")}`,
      '{"jsonrpc":"2.0","id":1,"method":"system_start_http_server","params":["127.0.0.1:0"]}',
    );
    const deadline = Date.now() + 10_000;
    while (h.state().address === first && Date.now() < deadline) await Bun.sleep(5);
    expect(h.state().address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(h.state().address).not.toBe(first);
  });

  test("the server of `init --http` is not replaced by system_start_http_server", async () => {
    t = await testDaemon({});
    const http = createHttpHost(() => table, { onStart: () => {} });
    host = http;
    const table = createMethodTable(t.daemon, { files: t.files, http });
    const boot = await http.start("127.0.0.1:0", { boot: true });
    const def = table.get("system_start_http_server");
    if (def?.kind !== "call") throw new Error("no system_start_http_server");
    await expect(def.call(["127.0.0.1:0"])).rejects.toMatchObject({
      code: -32603,
      message: `starting http server: the HTTP/RPC server of 'zinit init --http' is running at ${boot}; it is not replaced`,
    });
    expect(http.state()).toMatchObject({ address: boot, started_by: "init" });
  });
});
