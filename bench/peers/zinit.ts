// zinit (this project): the compiled daemon from `npm run build`, one YAML file per service,
// control through its CLI and JSON-RPC socket.

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { DEFAULT_STABILITY_PERIOD_MS } from "../../src/core/policy.ts";
import { LINE_BYTES, type LogCheck } from "../lib/logs.ts";
import { RpcClient } from "../lib/rpc.ts";
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
  healthyAfterMs: DEFAULT_STABILITY_PERIOD_MS,
  restartDelayNote: `not settable; immediate after ${DEFAULT_STABILITY_PERIOD_MS / 1000} s up, else 100 ms doubling to 2 s`,
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
  logReader: (dir, name, expected) => new RingReader(zinitSocket(dir), name, expected),
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
 * zinit's log sink is its in-memory ring, as a file is runit's or supervisord's: the clock stops
 * when the ring holds the last line, and the check covers what the ring keeps (the last --buffer
 * lines). A `zinit log` follower would also measure how fast a JSON client can read, on the same
 * two cores.
 */
class RingReader implements LogReader {
  private at = 0;
  private last = 0;

  constructor(
    private readonly path: string,
    private readonly name: string,
    private readonly expected: number,
  ) {}

  async attach(): Promise<void> {}

  private async ring(): Promise<string[]> {
    const client = await RpcClient.connect(this.path);
    try {
      return (await client.call("stream_currentLogs", [this.name])) as string[];
    } finally {
      client.close();
    }
  }

  async bytes(): Promise<number> {
    if (performance.now() - this.at >= RING_POLL_MS) {
      this.last = ringCheck(await this.ring()).last;
      this.at = performance.now();
    }
    return this.last * LINE_BYTES;
  }

  async verify(): Promise<LogCheck> {
    const { last, ...check } = ringCheck(await this.ring());
    return {
      ...check,
      lost: check.lost + (this.expected - last),
      scope: `checked the ring's last ${check.lines} lines (the ring is zinit's log sink)`,
    };
  }

  close(): void {}
}
