// zinit (this project): the compiled daemon from `npm run build`, one YAML file per service,
// control through its CLI and JSON-RPC socket.

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Socket } from "bun";
import { HEALTHY_RUN_MS } from "../../src/core/policy.ts";
import { LINE_BYTES, type LogCheck, LogVerifier } from "../lib/logs.ts";
import { rpcRequest } from "../lib/rpc.ts";
import { probe } from "./common.ts";
import type { LogReader, Peer } from "./types.ts";

/** `npm run build`'s output; ZINIT_BIN points the bench at another build of the same CLI. */
export const ZINIT_BIN =
  process.env.ZINIT_BIN || resolve(import.meta.dir, "..", "..", "dist", "zinit");
export const zinitSocket = (dir: string) => join(dir, "zinit.sock");
const confDir = (dir: string) => join(dir, "services");

export const zinit: Peer = {
  name: "zinit",
  detect() {
    if (!existsSync(ZINIT_BIN))
      return { ok: false, reason: `${ZINIT_BIN} missing (npm run build)` };
    const version = probe([ZINIT_BIN, "--version"]);
    return version ? { ok: true, version } : { ok: false, reason: `${ZINIT_BIN} --version failed` };
  },
  maxServices: Number.POSITIVE_INFINITY,
  dependencies: true,
  supervises: true,
  healthyAfterMs: HEALTHY_RUN_MS,
  restartDelayNote: `not settable; immediate after ${HEALTHY_RUN_MS / 1000} s up, else 100 ms doubling to 2 s`,
  write(dir, services) {
    const conf = confDir(dir);
    mkdirSync(conf, { recursive: true });
    for (const svc of services) {
      const lines = [`exec: ${JSON.stringify(svc.argv.join(" "))}`];
      if (svc.after) lines.push("after:", `  - ${svc.after}`);
      writeFileSync(join(conf, `${svc.name}.yaml`), `${lines.join("\n")}\n`);
    }
  },
  // Global options go before the subcommand, as upstream's CLI requires.
  command: (dir) => ({
    argv: [ZINIT_BIN, "-s", zinitSocket(dir), "init", "-c", confDir(dir), "--container"],
  }),
  stopSignal: "SIGTERM",
  statusCommand: (dir, name) => ({ argv: [ZINIT_BIN, "-s", zinitSocket(dir), "status", name] }),
  logReader: (dir, name, expected) => new SubscriptionReader(zinitSocket(dir), name, expected),
};

/**
 * zinit keeps service output in its in-memory ring, so the sink that can hold the whole
 * payload is a log subscription: every line the daemon consumed reaches the subscriber.
 */
class SubscriptionReader implements LogReader {
  private readonly verifier: LogVerifier;
  private socket: Socket | null = null;
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly path: string,
    private readonly name: string,
    expected: number,
  ) {
    this.verifier = new LogVerifier(expected);
  }

  async attach(): Promise<void> {
    let subscribed: () => void = () => {};
    const ready = new Promise<void>((r) => {
      subscribed = r;
    });
    this.socket = await Bun.connect({
      unix: this.path,
      socket: {
        data: (_s, chunk) => {
          const text = this.decoder.decode(chunk, { stream: true });
          if (text.includes('"id":1')) subscribed();
          this.verifier.feed(text);
        },
      },
    });
    this.socket.write(rpcRequest("stream_subscribeLogs", [this.name]));
    await Promise.race([
      ready,
      Bun.sleep(10_000).then(() => {
        throw new Error("stream_subscribeLogs: no reply within 10 s");
      }),
    ]);
  }

  bytes(): number {
    return this.verifier.lines * LINE_BYTES;
  }

  async verify(): Promise<LogCheck> {
    return this.verifier.result();
  }

  close(): void {
    this.socket?.end();
    this.socket = null;
  }
}
