import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMethodTable } from "../../src/api/methods.ts";
import { type SocketServer, serveUnix } from "../../src/api/unix.ts";
import { FakeControl } from "./fake-control.ts";

// Reproduce a failure with ZINIT_FUZZ_SEED=<seed printed below>.
const SEED = Number(process.env.ZINIT_FUZZ_SEED ?? Date.now() % 2 ** 32);
const FRAMES = 12_000;
// An unbalanced `{` swallows the rest of its connection (as in upstream's framing), so the frames
// are spread thin over many connections, run in waves.
const CONNECTIONS = 2000;
const WAVE = 250;
const TIMEOUT = 60_000;

/** mulberry32: small, fast, and good enough to drive a fuzzer deterministically. */
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

// Methods without lasting side effects: the fuzzer must not stop services, shut the fake down or
// write files into the config directory.
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

function randomValue(depth = 0): unknown {
  switch (int(depth > 3 ? 5 : 8)) {
    case 0:
      return null;
    case 1:
      return rand() < 0.5;
    case 2:
      return pick([0, -1, 1.5, 2 ** 53, -(2 ** 63), 1e308, 42]);
    case 3:
      return pick([
        "redis",
        "",
        "SIGTERM",
        "../x",
        "a\u0000b",
        "é😀",
        "\\",
        '"',
        "{[",
        "x".repeat(int(300)),
      ]);
    case 4:
      return String.fromCharCode(...Array.from({ length: int(20) }, () => int(0x3000)));
    case 5:
      return Array.from({ length: int(4) }, () => randomValue(depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = int(4); i > 0; i--)
        o[pick(["name", "signal", "filter", "id", "x", ""])] = randomValue(depth + 1);
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
  if (rand() < 0.8)
    req.params = rand() < 0.6 ? [pick(["redis", "nope", ""]), "SIGTERM"] : randomValue();
  return JSON.stringify(req);
}

const NOISE = [
  "{",
  "}",
  "[",
  "]",
  '"',
  "\\",
  "\n",
  " ",
  ",",
  ":",
  "\u00e9",
  "\u{1f600}",
  "\u0000",
  "null",
];

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

function frameBytes(): Uint8Array {
  const kind = rand();
  let text: string;
  if (kind < 0.3) text = validFrame();
  else if (kind < 0.85) text = mutate(validFrame());
  else if (kind < 0.95) text = JSON.stringify(randomValue());
  else {
    // Raw bytes, including invalid UTF-8.
    return Uint8Array.from({ length: int(64) }, () => int(256));
  }
  if (rand() < 0.5) text += "\n";
  return new TextEncoder().encode(text);
}

let dir: string;
let server: SocketServer;
let control: FakeControl;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "zinit-fuzz-"));
  control = new FakeControl();
  control.add("redis", { pid: 42, after: ["net"] });
  server = await serveUnix(join(dir, "zinit.sock"), createMethodTable(control), control);
});

afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `chunks` one by one, half-closes, and resolves to all the server wrote until it closed. */
function blast(chunks: Uint8Array[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const received: Buffer[] = [];
    const sock = connect(server.path);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`connection not closed by the server (seed ${SEED})`));
    }, TIMEOUT);
    sock.on("data", (d: Buffer) => {
      received.push(d);
    });
    // The server may legitimately close early (e.g. on an oversized frame): EPIPE is fine.
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

/** Whatever it was sent, the server answers well-formed output in the protocol it sniffed. */
function checkOutput(input: Uint8Array[], output: Buffer): void {
  const bytes = Buffer.concat(input);
  const at = bytes.findIndex((b) => !isSpace(b));
  if (at === -1) return;
  const first = bytes[at];
  const text = output.toString("utf8");
  const nl = bytes.indexOf(0x0a);
  const firstLine = bytes.subarray(0, nl === -1 ? bytes.length : nl);
  // A newline before the first non-blank byte is an empty legacy command line.
  const json = (first === 0x7b || first === 0x5b) && (nl === -1 || nl > at);
  if (json) {
    // Possibly empty: a connection that only sent notifications gets no reply.
    if (text === "") return;
    expect(text.endsWith("\n")).toBe(true);
    for (const line of text.slice(0, -1).split("\n")) {
      const reply = JSON.parse(line);
      for (const r of Array.isArray(reply) ? reply : [reply]) expect(r.jsonrpc).toBe("2.0");
    }
  } else if (firstLine.every((b) => isSpace(b) || b >= 0x20)) {
    const body = text.startsWith("bad request") ? text.slice("bad request".length) : text;
    expect(Object.keys(JSON.parse(body))).toEqual(["state", "body"]);
  }
}

test(
  `fuzz: ${FRAMES} random and mutated frames over ${CONNECTIONS} connections, then service_list still answers`,
  async () => {
    console.log(`fuzz seed: ${SEED}`);
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
    const replies = outputs.reduce(
      (n, out) => n + out.toString("latin1").split("\n").length - 1,
      0,
    );
    console.log(`fuzz: ${replies} reply lines over ${CONNECTIONS} connections`);
    perConn.forEach((input, i) => {
      checkOutput(input, outputs[i] as Buffer);
    });

    const reply = await new Promise<string>((resolve, reject) => {
      let out = "";
      const sock = connect(server.path, () =>
        sock.end('{"jsonrpc":"2.0","id":1,"method":"service_list"}'),
      );
      sock.on("data", (d: Buffer) => {
        out += d.toString("utf8");
      });
      sock.on("error", reject);
      sock.on("close", () => resolve(out));
    });
    expect(JSON.parse(reply)).toEqual({ jsonrpc: "2.0", result: control.list(), id: 1 });
  },
  TIMEOUT * 2,
);
