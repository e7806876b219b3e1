// zinit (this project): the compiled daemon from `npm run build`, one YAML file per service,
// control through its CLI and JSON-RPC socket.

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  DEFAULT_RESTART_DELAY_MAX_MS,
  DEFAULT_RESTART_DELAY_MS,
  DEFAULT_STABILITY_PERIOD_MS,
} from "../../src/core/policy.ts";
import { DirLogReader, type LogCheck } from "../lib/logs.ts";
import { RpcClient } from "../lib/rpc.ts";
import { probe } from "./common.ts";
import type { LogReader, Peer } from "./types.ts";

/** `npm run build`'s output; ZINIT_BIN points the bench at another build of the same CLI. */
export const ZINIT_BIN =
  process.env.ZINIT_BIN || resolve(import.meta.dir, "..", "..", "dist", "zinit");
export const zinitSocket = (dir: string) => join(dir, "zinit.sock");
/** Where the service files of a run in `dir` go. */
export const zinitConfDir = (dir: string) => join(dir, "services");

const logDir = (dir: string) => join(dir, "logs");

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
  restartDelayNote: `restart_delay_ms, restart_delay_max_ms, stability_period_ms; by default immediate for the first exit and after a run of ${DEFAULT_STABILITY_PERIOD_MS / 1000} s or more, else ${DEFAULT_RESTART_DELAY_MS} ms doubling to ${DEFAULT_RESTART_DELAY_MAX_MS / 1000} s`,
  write(dir, services) {
    const conf = zinitConfDir(dir);
    mkdirSync(conf, { recursive: true });
    for (const svc of services) {
      const lines = [`exec: ${JSON.stringify(svc.argv.join(" "))}`];
      if (svc.after) lines.push("after:", `  - ${svc.after}`);
      writeFileSync(join(conf, `${svc.name}.yaml`), `${lines.join("\n")}\n`);
    }
    // Logged services also go to files: every ring-logged service does with --log-dir.
    if (services.some((s) => s.logged)) mkdirSync(logDir(dir));
  },
  // Global options go before the subcommand, as upstream's CLI requires.
  command: (dir) => ({
    argv: [
      ZINIT_BIN,
      "-s",
      zinitSocket(dir),
      "init",
      "-c",
      zinitConfDir(dir),
      "--container",
      // Rotated at 10 MB, 50 files kept: room for the whole payload.
      ...(existsSync(logDir(dir))
        ? ["--log-dir", logDir(dir), "--log-max-size", "10000000", "--log-keep", "50"]
        : []),
    ],
  }),
  stopSignal: "SIGTERM",
  statusCommand: (dir, name) => ({ argv: [ZINIT_BIN, "-s", zinitSocket(dir), "status", name] }),
  logReader: (dir, _name, expected, width) => new DirLogReader(logDir(dir), expected, width),
  ringReader: (dir, name, expected, width) =>
    new RingReader(zinitSocket(dir), name, expected, width),
};

interface RingRecord {
  seq: number;
  line: string;
}

/** The ring's pages for one service, read as a client continues a stream_queryLogs answer. */
async function ringLines(client: RpcClient, name: string): Promise<string[]> {
  const out: string[] = [];
  let after: number | null = null;
  let to: number | null = null;
  for (;;) {
    const page = (await client.call("stream_queryLogs", [
      [name],
      null,
      null,
      null,
      null,
      after,
      to,
    ])) as {
      records: RingRecord[];
      next: number | null;
      to: number;
    };
    for (const r of page.records) out.push(r.line);
    if (page.next === null) return out;
    after = page.next;
    to = page.to;
  }
}

/**
 * zinit's ring as a log sink: the clock stops when its newest line of the service is the
 * payload's last (asked through stream_queryLogs for one line, over one connection), and the
 * check covers what the ring keeps (its last `-b` lines).
 */
class RingReader implements LogReader {
  private client: RpcClient | null = null;

  constructor(
    private readonly path: string,
    private readonly name: string,
    private readonly expected: number,
    private readonly width: number,
  ) {}

  async attach(): Promise<void> {
    this.client = await RpcClient.connect(this.path);
  }

  private async newest(): Promise<number> {
    const page = (await this.client?.call("stream_queryLogs", [[this.name], 1])) as
      | { records: RingRecord[] }
      | undefined;
    const m = PAYLOAD_LINE.exec(page?.records[0]?.line ?? "");
    return m ? Number(m[1]) : 0;
  }

  async bytes(): Promise<number> {
    return (await this.newest()) * this.width;
  }

  async holdsLast(): Promise<boolean> {
    return (await this.newest()) === this.expected;
  }

  async verify(): Promise<LogCheck> {
    const client = this.client ?? (await RpcClient.connect(this.path));
    const { last, ...check } = ringCheck(await ringLines(client, this.name));
    return {
      ...check,
      lost: check.lost + (this.expected - last),
      scope: `checked the ring's last ${check.lines} lines (it keeps the last -b = 2000)`,
    };
  }

  close(): void {
    this.client?.close();
    this.client = null;
  }
}

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

const PAYLOAD_LINE = /^(\d{9}) x+$/;
