// Socket framing, many connections, an oversized request and a seeded fuzz run against the
// compiled daemon as PID 1: whatever arrives, it answers or closes, and keeps serving.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { connect } from "node:net";
import { Zinit } from "../helpers/zinit.ts";
import { Conn, TIMEOUT } from "./lib.ts";

setDefaultTimeout(120_000);

const LIST = '{"jsonrpc":"2.0","id":1,"method":"service_list"}';
const withId = (id: unknown) => LIST.replace('"id":1', `"id":${JSON.stringify(id)}`);
const PARSE_ERROR = '{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}';

let z: Zinit;
let daemonPid: number;
let listLine: (id: unknown) => string;

beforeAll(async () => {
  z = await Zinit.boot({
    services: {
      "redis.yaml": "exec: sleep 1000\n",
      "net.yaml": "exec: 'true'\noneshot: true\n",
    },
  });
  await z.waitState("redis", "Running");
  await z.waitState("net", "Success");
  daemonPid = z.hostPid();
  listLine = (id) =>
    JSON.stringify({ jsonrpc: "2.0", result: { net: "Success", redis: "Running" }, id });
}, 60_000);

afterAll(async () => {
  expect(await z.stop()).toBe(0);
});

/** The daemon is the same process, never logged an escaped exception, and still answers. */
async function stillHealthy(): Promise<void> {
  expect(z.hostPid()).toBe(daemonPid);
  expect(z.proc.exitCode).toBeNull();
  expect(await z.list()).toEqual({ net: "Success", redis: "Running" });
  expect(z.output).not.toContain("uncaught exception");
  expect(z.output).not.toContain("unhandled rejection");
}

describe("JSON-RPC framing on the daemon's socket", () => {
  test("newline-terminated: one compact line back, byte for byte", async () => {
    const c = new Conn(z.socket);
    await c.send(`${LIST}\n`);
    await c.count(1);
    expect(c.lines).toEqual([listLine(1)]);
    c.close();
  });

  test("no newline", async () => {
    const c = new Conn(z.socket);
    await c.send(LIST);
    await c.count(1);
    expect(c.lines).toEqual([listLine(1)]);
    c.close();
  });

  test("two requests in one write, then more on the same connection", async () => {
    const c = new Conn(z.socket);
    await c.send(`${LIST}${withId(2)}`);
    await c.count(2);
    expect([...c.lines].sort()).toEqual([listLine(1), listLine(2)].sort());
    await c.send(`  \n\t${withId("three")}\n`);
    await c.count(3);
    expect(c.lines[2]).toBe(listLine("three"));
    c.close();
  });

  test("one request split over many writes", async () => {
    const c = new Conn(z.socket);
    for (const b of Buffer.from(`${withId(4)}\n`)) await c.send(Buffer.from([b]));
    await c.count(1);
    expect(c.lines).toEqual([listLine(4)]);
    // Split inside a multi-byte UTF-8 character too.
    const bytes = Buffer.from(
      '{"jsonrpc":"2.0","id":"é😀","method":"service_status","params":["ü"]}',
    );
    const cut = bytes.indexOf(0x9f);
    await c.send(bytes.subarray(0, cut));
    await c.send(bytes.subarray(cut));
    const reply = await c.find((m) => m.id === "é😀", "the unicode id");
    expect(reply.error?.message).toBe("getting status: service 'ü' not found");
    c.close();
  });

  test("a batch, and a batch with a notification and an invalid member", async () => {
    const c = new Conn(z.socket);
    await c.send(`[${LIST},${withId(2)}]`);
    await c.count(1);
    expect(c.lines[0]).toBe(`[${listLine(1)},${listLine(2)}]`);
    await c.send(`[{"jsonrpc":"2.0","method":"service_list"},${withId(3)},5]`);
    await c.count(2);
    expect(JSON.parse(c.lines[1] as string)).toEqual([
      JSON.parse(listLine(3)),
      { jsonrpc: "2.0", error: { code: -32600, message: "Invalid request" }, id: null },
    ]);
    await c.send("[]");
    await c.count(3);
    expect(JSON.parse(c.lines[2] as string)).toEqual({
      jsonrpc: "2.0",
      error: { code: -32600, message: "Invalid request" },
      id: null,
    });
    c.close();
  });

  test("garbage bytes get parse errors and the next valid frame still answers", async () => {
    const c = new Conn(z.socket);
    await c.send(`{"jsonrpc":"2.0","id":1,"method":}\n{nope}\n${withId(9)}`);
    await c.count(3);
    expect(c.lines.filter((l) => l !== listLine(9))).toEqual([PARSE_ERROR, PARSE_ERROR]);
    expect(c.lines).toContain(listLine(9));
    await c.send(Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0x7d]));
    await c.count(4);
    expect(c.lines[3]).toBe(PARSE_ERROR);
    await c.send(withId(10));
    await c.count(5);
    expect(c.lines[4]).toBe(listLine(10));
    c.close();
    await stillHealthy();
  });

  test("half-close: pending replies are flushed before the daemon closes", async () => {
    const c = new Conn(z.socket);
    c.sock.end(`${LIST}${withId(2)}`);
    await c.waitClosed();
    expect([...c.lines].sort()).toEqual([listLine(1), listLine(2)].sort());
  });

  test("a 20 MiB request is rejected and closed; the daemon keeps serving", async () => {
    const c = new Conn(z.socket);
    const big = `{"jsonrpc":"2.0","id":1,"method":"service_list","params":["${"x".repeat(20 * 1024 * 1024)}"]}`;
    c.sock.write(big);
    await c.waitClosed();
    expect(c.lines).toEqual([
      '{"jsonrpc":"2.0","error":{"code":-32007,"message":"Request is too big","data":"Exceeded max limit of 10485760"},"id":null}',
    ]);
    await stillHealthy();
  });

  test("200 concurrent connections all get their own answer", async () => {
    const clients = Array.from({ length: 200 }, () => new Conn(z.socket));
    await Promise.all(clients.map((c, i) => c.send(withId(i))));
    await Promise.all(clients.map((c) => c.count(1)));
    clients.forEach((c, i) => {
      expect(c.lines).toEqual([listLine(i)]);
    });
    for (const c of clients) c.close();
    await stillHealthy();
  });
});

// ---- fuzz -------------------------------------------------------------------------------------

// Reproduce a failure with ZINIT_FUZZ_SEED=<seed printed below>.
const SEED = Number(process.env.ZINIT_FUZZ_SEED ?? Date.now() % 2 ** 32);
const FRAMES = 20_000;
// An unbalanced `{` swallows the rest of its connection, so frames are spread over many
// connections, sent in waves.
const CONNECTIONS = 2000;
const WAVE = 200;

/** mulberry32: small and deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = prng(SEED);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;

// Only methods without lasting effects on a real daemon: no stop/forget/create/delete/system_*;
// kill only with harmless or invalid signals.
const METHODS = [
  "service_list",
  "service_status",
  "service_start",
  "service_kill",
  "service_stats",
  "stream_currentLogs",
  "stream_subscribeLogs",
  "stream_unsubscribeLogs",
  "rpc.discover",
  "no_such_method",
  "",
];
const NAMES = ["redis", "nope", "", "../x", "a/b", "a\u0000b", "é😀"];
const SIGNALS = ["SIGCONT", "SIGWINCH", "sigcont", "SIGNOPE", "", "28"];

function randomValue(depth = 0): unknown {
  switch (int(depth > 3 ? 5 : 8)) {
    case 0:
      return null;
    case 1:
      return rand() < 0.5;
    case 2:
      return pick([0, -1, 1.5, 2 ** 53, -(2 ** 63), 1e308, 42]);
    case 3:
      return pick([...NAMES, ...SIGNALS, "\\", '"', "{[", "x".repeat(int(300))]);
    case 4:
      return String.fromCharCode(...Array.from({ length: int(20) }, () => int(0x3000)));
    case 5:
      return Array.from({ length: int(4) }, () => randomValue(depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = int(4); i > 0; i--) {
        o[pick(["name", "signal", "filter", "id", "x", ""])] = randomValue(depth + 1);
      }
      return o;
    }
  }
}

function validFrame(): string {
  const req: Record<string, unknown> = {
    jsonrpc: pick(["2.0", "2.0", "2.0", "1.0", 2]),
    method: pick(METHODS),
  };
  if (rand() < 0.9) req.id = pick([int(1000), `id-${int(1000)}`, null, 1.5, [], {}]);
  if (rand() < 0.8) req.params = rand() < 0.6 ? [pick(NAMES), pick(SIGNALS)] : randomValue();
  return JSON.stringify(req);
}

const NOISE = ["{", "}", "[", "]", '"', "\\", "\n", " ", ",", ":", "é", "😀", "\u0000", "null"];

function mutate(frame: string): string {
  let s = frame;
  for (let n = 1 + int(4); n > 0; n--) {
    const at = int(s.length + 1);
    switch (int(6)) {
      case 0:
        s = s.slice(0, at) + pick(NOISE) + s.slice(at);
        break;
      case 1:
        s = s.slice(0, at) + s.slice(at + 1 + int(5));
        break;
      case 2:
        s = s.slice(0, at);
        break;
      case 3:
        s = s.slice(0, at) + s + s.slice(at);
        break;
      case 4:
        s = `[${s}${rand() < 0.5 ? `,${validFrame()}` : ""}]`;
        break;
      default:
        s = s.slice(0, at) + String.fromCharCode(int(128)) + s.slice(at);
    }
  }
  return s;
}

/** Harmless legacy lines, plain and mutated (never a word that could stop or shut down). */
function legacyLine(): string {
  const line = pick([
    "list",
    "status redis",
    "status 'redis",
    "log snapshot",
    "kill redis SIGNOPE",
    "x",
  ]);
  return rand() < 0.5 ? line : line.replace(/[a-z]/, pick(["", "'", '"', "\\", "q"]));
}

function frameBytes(): Uint8Array {
  const kind = rand();
  let text: string;
  if (kind < 0.3) text = validFrame();
  else if (kind < 0.8) text = mutate(validFrame());
  else if (kind < 0.9) text = JSON.stringify(randomValue());
  else if (kind < 0.95) text = legacyLine();
  else return Uint8Array.from({ length: int(64) }, () => int(256));
  if (rand() < 0.5) text += "\n";
  return new TextEncoder().encode(text);
}

/** Writes `chunks` one by one, half-closes, and resolves to all the daemon wrote until it closed. */
function blast(chunks: Uint8Array[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const received: Buffer[] = [];
    const sock = connect(z.socket);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`connection not closed by the daemon (seed ${SEED})`));
    }, TIMEOUT * 3);
    sock.on("data", (d: Buffer) => received.push(d));
    // The daemon may close early (a legacy command is answered and closed): EPIPE is fine.
    sock.on("error", () => {});
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(received));
    });
    sock.on("connect", async () => {
      for (const c of chunks) {
        if (sock.destroyed) break;
        await new Promise<void>((done) => sock.write(c, () => done()));
      }
      sock.end();
    });
  });
}

const isSpace = (b: number) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;

/** Whatever it was sent, the daemon answered well-formed output in the protocol it sniffed. */
function checkOutput(input: Uint8Array[], output: Buffer): void {
  const bytes = Buffer.concat(input);
  const at = bytes.findIndex((b) => !isSpace(b));
  if (at === -1) return;
  const first = bytes[at];
  const text = output.toString("utf8");
  const nl = bytes.indexOf(0x0a);
  const firstLine = bytes.subarray(0, nl === -1 ? bytes.length : nl);
  const json = (first === 0x7b || first === 0x5b) && (nl === -1 || nl > at);
  if (json) {
    if (text === "") return;
    expect(text.endsWith("\n")).toBe(true);
    for (const line of text.slice(0, -1).split("\n")) {
      const reply = JSON.parse(line);
      for (const r of Array.isArray(reply) ? reply : [reply]) expect(r.jsonrpc).toBe("2.0");
    }
  } else if (firstLine.every((b) => isSpace(b) || b >= 0x20)) {
    if (text.startsWith("[")) return; // `log snapshot` is raw ring text
    // The daemon answers the first line and closes; a client still writing the rest gets EPIPE,
    // and Node drops the socket before reading the reply. Only then may the output be empty.
    if (text === "" && nl !== -1 && bytes.subarray(nl + 1).some((b) => !isSpace(b))) return;
    const body = text.startsWith("bad request") ? text.slice("bad request".length) : text;
    expect(Object.keys(JSON.parse(body))).toEqual(["state", "body"]);
  }
}

test(`fuzz: ${FRAMES} random and mutated frames over ${CONNECTIONS} connections; the daemon survives`, async () => {
  console.log(`e2e fuzz seed: ${SEED}`);
  const perConn: Uint8Array[][] = Array.from({ length: CONNECTIONS }, () => []);
  for (let i = 0; i < FRAMES; i++) {
    const bytes = frameBytes();
    const conn = perConn[int(CONNECTIONS)] as Uint8Array[];
    // Random write boundaries, so frames also arrive split and glued together.
    let at = 0;
    while (at < bytes.length) {
      const len = 1 + int(bytes.length);
      conn.push(bytes.subarray(at, at + len));
      at += len;
    }
  }
  const outputs: Buffer[] = [];
  for (let i = 0; i < CONNECTIONS; i += WAVE) {
    outputs.push(...(await Promise.all(perConn.slice(i, i + WAVE).map(blast))));
  }
  const replies = outputs.reduce((n, out) => n + out.toString("latin1").split("\n").length - 1, 0);
  console.log(`e2e fuzz: ${replies} reply lines over ${CONNECTIONS} connections`);
  expect(replies).toBeGreaterThan(FRAMES / 10);
  perConn.forEach((input, i) => {
    checkOutput(input, outputs[i] as Buffer);
  });
  await stillHealthy();
  const c = new Conn(z.socket);
  await c.send(LIST);
  await c.count(1);
  expect(c.lines).toEqual([listLine(1)]);
  c.close();
});
