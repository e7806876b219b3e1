// Where the output of one spawned process goes, by its service's `log` mode. The shell asks for a
// process's sinks at spawn; everything after that (line cutting, the ring, log files, forwarding
// to zinit's own stdout/stderr) is the log subsystem's.
//
//   ring    the ring (and DIR/<service>.log too with `init --log-dir DIR`)
//   file    the ring and the service's log file (`log_file`, default /var/log/zinit/<name>.log,
//           or DIR/<name>.log with `init --log-dir`), rotated by `log_max_size` / `log_keep`
//   stdout  zinit's stdout/stderr: raw (upstream), `name | line` or JSON lines (`init --stdout-format`)
//   none    /dev/null

import { join } from "node:path";
import { DEFAULT_LOG_KEEP, DEFAULT_LOG_MAX_BYTES } from "../core/policy.ts";
import type { LogFileConfig, LogMode } from "../core/types.ts";
import type { StdoutFormat } from "../defaults.ts";
import type { ChunkSink } from "../sys/port.ts";
import { type FileConfig, type LogFile, LogFiles } from "./files.ts";
import { MemoryGuard } from "./guard.ts";
import {
  batchSink,
  eachLine,
  type LineBatch,
  START_TEXT,
  type Stream,
  textBatch,
} from "./lines.ts";
import { LogQueries } from "./query.ts";
import type { LogRing } from "./ring.ts";
import { outputWriter } from "./writer.ts";

export type { Stream };

/** Where `log: file` writes without `log_file` (and without `init --log-dir`). */
const DEFAULT_LOG_DIR = "/var/log/zinit";

interface OutputRequest {
  /** The name its lines carry: `web`, `web/test`… */
  label: string;
  mode: LogMode;
  /** The service the process belongs to, which names its log file (default: the label's first part). */
  service?: string;
  /** The service's `log_file`, `log_max_size` and `log_keep` (for `log: file`). */
  file?: LogFileConfig;
  /** Also sees every line (a log probe), whatever the mode. */
  onLine?: (stream: Stream, text: string) => void;
}

/** The child's stdout and stderr: a sink the shell's pipes feed, or /dev/null. */
interface ProcessOutput {
  stdout: ChunkSink | "null";
  stderr: ChunkSink | "null";
}

interface ServiceLogsOptions {
  ring: LogRing;
  /** Milliseconds since the epoch, stamped on every line. */
  wallClock: () => number;
  /** Monotonic milliseconds (retry delays). */
  now: () => number;
  /** `init --log-dir`: every ring-logged service also writes DIR/<name>.log. */
  logDir?: string | null;
  /** Rotation of the `--log-dir` files of ring-logged services. */
  dirMaxBytes?: number;
  dirKeep?: number;
  stdoutFormat?: StdoutFormat;
  /** zinit's own log line (a log file that cannot be written). */
  report?: (level: "info" | "error", message: string) => void;
}

export class ServiceLogs {
  readonly ring: LogRing;
  readonly queries: LogQueries;
  private readonly files: LogFiles;
  private readonly guard: MemoryGuard;
  private readonly opts: ServiceLogsOptions;

  constructor(opts: ServiceLogsOptions) {
    this.opts = opts;
    this.ring = opts.ring;
    this.queries = new LogQueries(opts.ring);
    this.guard = new MemoryGuard(opts.ring.byteCapacity);
    this.files = new LogFiles({
      now: opts.now,
      report: opts.report ?? (() => {}),
    });
  }

  open(req: OutputRequest): ProcessOutput {
    const { label, mode, onLine } = req;
    if (mode === "none" && !onLine) return { stdout: "null", stderr: "null" };
    const toRing = mode === "ring" || mode === "file";
    const fileCfg = this.fileConfig(req);
    const file = fileCfg ? this.files.get(fileCfg) : null;
    const forward = mode === "stdout" ? this.forwarder(label) : null;
    const sink = (stream: Stream): ChunkSink =>
      batchSink((batch) => {
        this.guard.took(batch.bytes.byteLength);
        const time = this.opts.wallClock();
        if (toRing) this.ring.append(label, stream, batch, time);
        file?.writeBatch(label, stream, batch, time);
        forward?.(stream, batch, time);
        if (onLine) eachLine(batch, (text) => onLine(stream, text));
      });
    if (toRing) this.separator(label, file);
    return { stdout: sink("stdout"), stderr: sink("stderr") };
  }

  /** Closes and reopens every log file (after logrotate moved them); their paths. */
  reopen(): string[] {
    return this.files.reopen();
  }

  /** zinit is stopping: followers are told, log files closed. */
  finish(reason = "zinit stopped"): void {
    this.ring.end(reason);
    this.files.closeAll();
  }

  private separator(label: string, file: LogFile | null): void {
    const time = this.opts.wallClock();
    const batch = textBatch(START_TEXT) as LineBatch;
    this.ring.append(label, "stderr", batch, time);
    file?.writeBatch(label, "stderr", batch, time);
  }

  private fileConfig(req: OutputRequest): FileConfig | null {
    const service = req.service ?? (req.label.split("/")[0] as string);
    const dir = this.opts.logDir ?? null;
    if (req.mode === "file") {
      return {
        path: req.file?.path ?? join(dir ?? DEFAULT_LOG_DIR, `${service}.log`),
        maxBytes: req.file?.maxBytes ?? DEFAULT_LOG_MAX_BYTES,
        keep: req.file?.keep ?? DEFAULT_LOG_KEEP,
      };
    }
    if (req.mode === "ring" && dir !== null) {
      return {
        path: join(dir, `${service}.log`),
        maxBytes: this.opts.dirMaxBytes ?? DEFAULT_LOG_MAX_BYTES,
        keep: this.opts.dirKeep ?? DEFAULT_LOG_KEEP,
      };
    }
    return null;
  }

  /** `log: stdout`: each line to zinit's stdout or stderr, as the service wrote it, never blocking. */
  private forwarder(label: string): (stream: Stream, batch: LineBatch, time: number) => void {
    const format = this.opts.stdoutFormat ?? "raw";
    return (stream, batch, time) => {
      const writer = outputWriter(stream === "stdout" ? 1 : 2);
      eachLine(batch, (text) => {
        switch (format) {
          case "raw":
            writer.writeSoon(`${text}\n`);
            return;
          case "prefix":
            writer.writeSoon(`${label} | ${text}\n`);
            return;
          case "json":
            writer.writeSoon(`${JSON.stringify({ time, service: label, stream, line: text })}\n`);
            return;
        }
      });
    };
  }
}
