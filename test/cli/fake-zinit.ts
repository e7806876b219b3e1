// A stand-in daemon for CLI tests: a unix socket that records every JSON-RPC request and answers
// through a per-test handler, plus a runner for `bun src/main.ts …`.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Socket } from "bun";
import { collect, type RunResult } from "../helpers/run.ts";

export interface Request {
  jsonrpc: string;
  id?: number;
  method: string;
  params?: unknown;
}

export class Conn {
  constructor(private readonly socket: Socket<undefined>) {}
  send(data: string | Uint8Array): void {
    this.socket.write(data);
  }
  result(id: number | undefined, result: unknown): void {
    this.send(`${JSON.stringify({ jsonrpc: "2.0", id, result })}\n`);
  }
  error(id: number | undefined, code: number, message: string, data: unknown = null): void {
    this.send(`${JSON.stringify({ jsonrpc: "2.0", id, error: { code, message, data } })}\n`);
  }
  notify(method: string, subscription: unknown, result: unknown): void {
    this.send(`${JSON.stringify({ jsonrpc: "2.0", method, params: { subscription, result } })}\n`);
  }
  close(): void {
    this.socket.end();
  }
}

export type Handler = (req: Request, conn: Conn) => void;

export class FakeZinit {
  readonly requests: Request[] = [];
  private readonly waiters: Array<() => void> = [];

  private constructor(
    readonly dir: string,
    readonly path: string,
    private readonly server: ReturnType<typeof Bun.listen>,
  ) {}

  static start(handler: Handler): FakeZinit {
    const dir = mkdtempSync(join(tmpdir(), "zinit-cli-"));
    const path = join(dir, "zinit.sock");
    let self: FakeZinit | undefined;
    const partial = new Map<Socket<undefined>, string>();
    const server = Bun.listen({
      unix: path,
      socket: {
        data(socket, chunk) {
          let text = (partial.get(socket) ?? "") + chunk.toString();
          for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n")) {
            const req = JSON.parse(text.slice(0, nl)) as Request;
            text = text.slice(nl + 1);
            self?.requests.push(req);
            handler(req, new Conn(socket));
            for (const wake of self?.waiters.splice(0) ?? []) wake();
          }
          partial.set(socket, text);
        },
      },
    });
    self = new FakeZinit(dir, path, server);
    return self;
  }

  /** Resolves once `count` requests have arrived. */
  async waitForRequests(count: number, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.requests.length < count) {
      if (Date.now() > deadline) throw new Error(`only ${this.requests.length} requests arrived`);
      await new Promise<void>((wake) => {
        this.waiters.push(wake);
        setTimeout(wake, 200);
      });
    }
  }

  /** The requests without their ids, which are the client's business. */
  get calls(): Array<{ method: string; params: unknown }> {
    return this.requests.map((r) => ({ method: r.method, params: r.params }));
  }

  stop(): void {
    this.server.stop(true);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Answers each method from a table; methods not in it get upstream's -32601. */
export function table(replies: Record<string, unknown>): Handler {
  return (req, conn) => {
    if (!Object.hasOwn(replies, req.method)) {
      conn.error(req.id, -32601, "Method not found");
      return;
    }
    const reply = replies[req.method];
    if (reply instanceof RpcFailure) conn.error(req.id, reply.code, reply.message, reply.data);
    else conn.result(req.id, reply);
  };
}

export class RpcFailure {
  constructor(
    readonly code: number,
    readonly message: string,
    readonly data: unknown = null,
  ) {}
}

export const MAIN = resolve(import.meta.dir, "../../src/main.ts");

export function spawnCli(args: string[], env: Record<string, string> = {}) {
  const baseEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && k !== "ZINIT_SOCKET" && k !== "ZINIT_TIMEOUT") baseEnv[k] = v;
  }
  return Bun.spawn([process.execPath, MAIN, ...args], {
    env: { ...baseEnv, ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
}

export function runCli(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return collect(spawnCli(args, env));
}

/** A running CLI whose stdout can be awaited piecemeal (for `log` and `proxy`). */
export class LiveCli {
  stdout = "";
  private eof = false;
  private readonly stderrText: Promise<string>;
  private readonly reading: Promise<void>;
  private readonly waiters = new Set<() => void>();

  constructor(readonly proc: ReturnType<typeof spawnCli>) {
    this.stderrText = new Response(proc.stderr).text();
    this.reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of proc.stdout) {
        this.stdout += decoder.decode(chunk, { stream: true });
        for (const wake of this.waiters) wake();
      }
      this.eof = true;
      for (const wake of this.waiters) wake();
    })();
  }

  /** Resolves when stdout contains `text`; fails at EOF or after `timeoutMs`. */
  waitForStdout(text: string, timeoutMs = 20_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => check(true), timeoutMs);
      const check = (expired = false) => {
        if (this.stdout.includes(text)) {
          this.waiters.delete(check);
          clearTimeout(timer);
          resolve();
        } else if (expired || this.eof) {
          this.waiters.delete(check);
          clearTimeout(timer);
          reject(
            new Error(
              `stdout never showed ${JSON.stringify(text)}: ${JSON.stringify(this.stdout)}`,
            ),
          );
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  async finish(): Promise<RunResult> {
    const code = await this.proc.exited;
    await this.reading;
    return { stdout: this.stdout, stderr: await this.stderrText, code };
  }
}
