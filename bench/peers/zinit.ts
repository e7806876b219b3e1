// zinit (this project): the compiled daemon from `npm run build`, one YAML file per service,
// control through its CLI and JSON-RPC socket.

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Socket } from "bun";
import { HEALTHY_RUN_MS } from "../../src/core/policy.ts";
import { LINE_BYTES, type LogCheck, LogVerifier } from "../lib/logs.ts";
import { RpcClient, rpcRequest } from "../lib/rpc.ts";
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

/** Highest payload line number in `lines`, and the check of the consecutive run ending there. */
function ringCheck(lines: string[]): LogCheck & { last: number } {
  const seqs: number[] = [];
  for (const line of lines) {
    const m = PAYLOAD_LINE.exec(line);
    if (m) seqs.push(Number(m[1]));
  }
  const last = seqs.length > 0 ? Math.max(...seqs) : 0;
  const first = last - seqs.length + 1;
  const seen = new Set(seqs);
  let lost = 0;
  for (let seq = first; seq <= last; seq++) if (!seen.has(seq)) lost++;
  let disordered = seqs.length - seen.size;
  for (let i = 1; i < seqs.length; i++) if (seqs[i]! <= seqs[i - 1]!) disordered++;
  return { last, lines: seqs.length, lost, disordered };
}

const PAYLOAD_LINE = /(\d{9}) x{90}$/;
/** Ring snapshots are 2000 lines of JSON; poll them no more often than this. */
const RING_POLL_MS = 50;

/**
 * zinit keeps service output only in its in-memory ring. A log subscription sees every line the
 * daemon consumed as long as it keeps up; a follower that falls 4 MB behind skips lines and gets
 * upstream's `[-] zinit: N lines dropped` note, and then only the ring's tail (the last --buffer
 * lines) can be checked.
 */
class SubscriptionReader implements LogReader {
  private readonly verifier: LogVerifier;
  private socket: Socket | null = null;
  /** The follower was disconnected or told it missed lines: check the ring instead. */
  private behind = false;
  private behindWhy = "";
  /** The end of the previous chunk, so a note split across two chunks is still seen. */
  private tail = "";
  private readonly decoder = new TextDecoder();
  private ringAt = 0;
  private ringBytes = 0;

  constructor(
    private readonly path: string,
    private readonly name: string,
    private readonly expected: number,
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
          if (!this.behind && `${this.tail}${text}`.includes(" lines dropped")) {
            this.behind = true;
            this.behindWhy = `the log follower fell behind after ${this.verifier.lines} lines`;
          }
          this.tail = text.slice(-64);
          this.verifier.feed(text);
        },
        close: () => {
          if (!this.behind) {
            this.behind = true;
            this.behindWhy = `the log follower was disconnected after ${this.verifier.lines} lines`;
          }
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

  private async ring(): Promise<string[]> {
    const client = await RpcClient.connect(this.path);
    try {
      return (await client.call("stream_currentLogs", [this.name])) as string[];
    } finally {
      client.close();
    }
  }

  async bytes(): Promise<number> {
    const followed = this.verifier.lines * LINE_BYTES;
    if (!this.behind) return followed;
    if (performance.now() - this.ringAt >= RING_POLL_MS) {
      this.ringBytes = ringCheck(await this.ring()).last * LINE_BYTES;
      this.ringAt = performance.now();
    }
    return Math.max(followed, this.ringBytes);
  }

  async verify(): Promise<LogCheck> {
    if (!this.behind) return this.verifier.result();
    const { last, ...check } = ringCheck(await this.ring());
    const missingTail = this.expected - last;
    return {
      ...check,
      lost: check.lost + missingTail,
      scope: `checked the ring's last ${check.lines} lines: ${this.behindWhy}`,
    };
  }

  close(): void {
    this.socket?.end();
    this.socket = null;
  }
}
