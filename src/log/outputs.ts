// Where the output of one spawned process goes, by its service's `log` mode. The shell asks for a
// process's sinks at spawn; everything after that (line splitting, the ring's formats, forwarding
// to zinit's own stdout/stderr) is the log subsystem's.

import type { LogMode } from "../core/types.ts";
import type { ChunkSink } from "../sys/port.ts";
import { formatLine, lineSink, startSeparator } from "./lines.ts";
import type { LogRing } from "./ring.ts";
import { forwardTo } from "./writer.ts";

export type Stream = "stdout" | "stderr";

export interface OutputRequest {
  /** The name its lines carry: `web`, `web/test`… */
  label: string;
  mode: LogMode;
  /** Also sees every line (a log probe), whatever the mode. */
  onLine?: (stream: Stream, text: string) => void;
}

/** The child's stdout and stderr: a sink the shell's pipes feed, or /dev/null. */
export interface ProcessOutput {
  stdout: ChunkSink | "null";
  stderr: ChunkSink | "null";
}

export class ServiceLogs {
  constructor(private readonly ring: LogRing) {}

  open(req: OutputRequest): ProcessOutput {
    const { label, mode, onLine } = req;
    if (mode === "none" && !onLine) return { stdout: "null", stderr: "null" };
    const sink = (stream: Stream): ChunkSink => {
      const write = this.writer(label, mode, stream);
      return lineSink((text) => {
        write(text);
        onLine?.(stream, text);
      });
    };
    if (mode === "ring" || mode === "file") this.ring.push(startSeparator(label));
    return { stdout: sink("stdout"), stderr: sink("stderr") };
  }

  private writer(label: string, mode: LogMode, stream: Stream): (text: string) => void {
    switch (mode) {
      case "none":
        return () => {};
      case "stdout":
        return forwardTo(stream === "stdout" ? 1 : 2);
      case "ring":
      case "file":
        return (text) => this.ring.push(formatLine(label, stream, text));
    }
  }
}
