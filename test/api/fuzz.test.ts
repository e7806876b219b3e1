import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type SocketServer, serveUnix } from "../../src/api/unix.ts";
import { type TestDaemon, testDaemon } from "../helpers/daemon.ts";
import { blastAll, checkOutput, fuzzer, replyLines } from "../helpers/fuzz.ts";

// Reproduce a failure with ZINIT_FUZZ_SEED=<seed printed below>.
const SEED = Number(process.env.ZINIT_FUZZ_SEED ?? Date.now() % 2 ** 32);
const FRAMES = 12_000;
const CONNECTIONS = 2000;
const WAVE = 250;
const TIMEOUT = 60_000;

const fuzz = fuzzer({
  seed: SEED,
  strings: ["redis", "", "SIGTERM", "../x", "a\u0000b", "é😀"],
  names: ["redis", "nope", ""],
  signals: ["SIGTERM"],
});

let dir: string;
let server: SocketServer;
let t: TestDaemon;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "zinit-fuzz-"));
  t = await testDaemon({
    files: { redis: "exec: redis-server\nafter: [net]\n" },
    pids: { redis: 42 },
  });
  server = await serveUnix(join(dir, "zinit.sock"), t.table, t.daemon);
});

afterAll(() => {
  server.close();
  t.close();
  rmSync(dir, { recursive: true, force: true });
});

test(
  `fuzz: ${FRAMES} random and mutated frames over ${CONNECTIONS} connections, then service_list still answers`,
  async () => {
    console.log(`fuzz seed: ${SEED}`);
    const perConn = fuzz.connections(FRAMES, CONNECTIONS);
    const outputs = await blastAll(
      server.path,
      perConn,
      WAVE,
      TIMEOUT,
      `the server (seed ${SEED})`,
    );
    console.log(`fuzz: ${replyLines(outputs)} reply lines over ${CONNECTIONS} connections`);
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
    expect(JSON.parse(reply)).toEqual({ jsonrpc: "2.0", result: t.daemon.list(), id: 1 });
  },
  TIMEOUT * 2,
);
