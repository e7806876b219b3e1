// The socket fuzzer shared by the in-process server test (test/api) and the compiled daemon test
// (test/e2e): seeded random and mutated frames, written at random boundaries over many
// connections, and a check that whatever came back is well-formed in the protocol sniffed.

import { expect } from "bun:test";
import { connect } from "node:net";
import { prng } from "./prng.ts";

// Methods without lasting side effects: the fuzzer must not stop services, shut the peer down or
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
  "stream_queryLogs",
  "stream_followLogs",
  "stream_unfollowLogs",
  "rpc.discover",
  "no_such_method",
  "",
];

const NOISE = ["{", "}", "[", "]", '"', "\\", "\n", " ", ",", ":", "é", "😀", "\u0000", "null"];

export interface FuzzOptions {
  seed: number;
  /** Strings that random values draw from (besides escapes, brackets and a long run of x). */
  strings: readonly string[];
  /** A well-formed request's params are mostly `[name, signal]` drawn from these. */
  names: readonly string[];
  signals: readonly string[];
  /** Legacy command lines, sent plain and mutated, for a peer that must not be stopped by them. */
  legacyLines?: readonly string[];
}

export interface Fuzzer {
  /** `frames` random frames over `connections` connections, each frame cut at random places. */
  connections(frames: number, connections: number): Uint8Array[][];
}

export function fuzzer(opts: FuzzOptions): Fuzzer {
  const rand = prng(opts.seed);
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;

  function randomValue(depth = 0): unknown {
    switch (int(depth > 3 ? 5 : 8)) {
      case 0:
        return null;
      case 1:
        return rand() < 0.5;
      case 2:
        return pick([0, -1, 1.5, 2 ** 53, -(2 ** 63), 1e308, 42]);
      case 3:
        return pick([...opts.strings, "\\", '"', "{[", "x".repeat(int(300))]);
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
    if (rand() < 0.8) {
      req.params = rand() < 0.6 ? [pick(opts.names), pick(opts.signals)] : randomValue();
    }
    return JSON.stringify(req);
  }

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

  function legacyLine(lines: readonly string[]): string {
    const line = pick(lines);
    return rand() < 0.5 ? line : line.replace(/[a-z]/, pick(["", "'", '"', "\\", "q"]));
  }

  function frameBytes(): Uint8Array {
    const legacy = opts.legacyLines;
    const kind = rand();
    let text: string;
    if (kind < 0.3) text = validFrame();
    else if (kind < (legacy ? 0.8 : 0.85)) text = mutate(validFrame());
    else if (kind < (legacy ? 0.9 : 0.95)) text = JSON.stringify(randomValue());
    else if (legacy && kind < 0.95) text = legacyLine(legacy);
    // Raw bytes, including invalid UTF-8.
    else return Uint8Array.from({ length: int(64) }, () => int(256));
    if (rand() < 0.5) text += "\n";
    return new TextEncoder().encode(text);
  }

  function connections(frames: number, count: number): Uint8Array[][] {
    const perConn: Uint8Array[][] = Array.from({ length: count }, () => []);
    for (let i = 0; i < frames; i++) {
      const bytes = frameBytes();
      const conn = perConn[int(count)] as Uint8Array[];
      // Random write boundaries, so frames also arrive split and glued together.
      let at = 0;
      while (at < bytes.length) {
        const len = 1 + int(bytes.length);
        conn.push(bytes.subarray(at, at + len));
        at += len;
      }
    }
    return perConn;
  }

  return { connections };
}

/**
 * Writes each connection's chunks one by one, half-closes, and resolves to all the peer wrote
 * until it closed. An unbalanced `{` swallows the rest of its connection, so the frames are spread
 * thin over many connections, `wave` of them open at a time.
 */
export async function blastAll(
  socket: string,
  perConn: Uint8Array[][],
  wave: number,
  timeoutMs: number,
  what: string,
): Promise<Buffer[]> {
  const outputs: Buffer[] = [];
  for (let i = 0; i < perConn.length; i += wave) {
    const batch = perConn
      .slice(i, i + wave)
      .map((chunks) => blast(socket, chunks, timeoutMs, what));
    outputs.push(...(await Promise.all(batch)));
  }
  return outputs;
}

function blast(socket: string, chunks: Uint8Array[], timeoutMs: number, what: string) {
  return new Promise<Buffer>((resolve, reject) => {
    const received: Buffer[] = [];
    const sock = connect(socket);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`connection not closed by ${what}`));
    }, timeoutMs);
    sock.on("data", (d: Buffer) => {
      received.push(d);
    });
    // The peer may legitimately close early (an oversized frame, an answered legacy command):
    // EPIPE is fine.
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

/** How many reply lines came back over all connections. */
export function replyLines(outputs: Buffer[]): number {
  return outputs.reduce((n, out) => n + out.toString("latin1").split("\n").length - 1, 0);
}

/** The JSON whitespace bytes. */
export const isSpace = (b: number) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;

/**
 * Whatever it was sent, the peer answered well-formed output in the protocol it sniffed.
 * `legacyExempt` says when a legacy reply may be other than a `{state, body}` object.
 */
export function checkOutput(
  input: Uint8Array[],
  output: Buffer,
  legacyExempt?: (text: string, bytes: Buffer, nl: number) => boolean,
): void {
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
    if (legacyExempt?.(text, bytes, nl)) return;
    const body = text.startsWith("bad request") ? text.slice("bad request".length) : text;
    expect(Object.keys(JSON.parse(body))).toEqual(["state", "body"]);
  }
}
