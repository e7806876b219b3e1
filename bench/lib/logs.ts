// The log payload and how it is checked. The writer numbers its lines, so a sink that lost,
// duplicated or reordered any of them is caught, whatever prefix or framing the sink adds.

import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
} from "node:fs";
import { join } from "node:path";
import type { LogReader } from "../peers/types.ts";

/** Every payload line is `<9-digit seq> <x…x>\n`, `width` bytes (100 unless said otherwise). */
export const LINE_BYTES = 100;
const payload = (width: number) => new RegExp(`(\\d{9}) x{${width - 11}}`, "g");

export interface LogCheck {
  /** Payload lines the sink holds. */
  lines: number;
  /** Sequence numbers in 1..expected that never arrived. */
  lost: number;
  /** Lines that arrived again or before an earlier number. */
  disordered: number;
  /** Set when only part of the payload could be checked: which part. */
  scope?: string;
}

export class LogVerifier {
  private readonly seen: Uint8Array;
  private readonly pattern: RegExp;
  private last = 0;
  private partial = "";
  lines = 0;
  disordered = 0;

  constructor(
    private readonly expected: number,
    width = LINE_BYTES,
  ) {
    this.seen = new Uint8Array(expected + 1);
    this.pattern = payload(width);
  }

  /** Feeds raw sink text; lines may be split anywhere across calls. */
  feed(text: string): void {
    const data = this.partial + text;
    const cut = data.lastIndexOf("\n");
    if (cut < 0) {
      this.partial = data;
      return;
    }
    this.partial = data.slice(cut + 1);
    this.scan(data.slice(0, cut + 1));
  }

  result(): LogCheck {
    if (this.partial) this.scan(this.partial);
    this.partial = "";
    let lost = 0;
    for (let i = 1; i <= this.expected; i++) if (this.seen[i] === 0) lost++;
    return { lines: this.lines, lost, disordered: this.disordered };
  }

  private scan(text: string): void {
    for (const match of text.matchAll(this.pattern)) {
      const seq = Number(match[1]);
      this.lines++;
      if (seq <= this.last || seq > this.expected || this.seen[seq] === 1) this.disordered++;
      if (seq <= this.expected) this.seen[seq] = 1;
      this.last = seq;
    }
  }
}

/**
 * Log files in one directory, oldest first: svlogd's and s6-log's archives (`@<tai64n>.s`, which
 * sort chronologically) then `current`; or a `NAME.log` with its rotations (`NAME.log.N` oldest …
 * `NAME.log.1`, then `NAME.log`: zinit's and supervisord's scheme).
 */
export class DirLogReader implements LogReader {
  constructor(
    private readonly dir: string,
    private readonly expected: number,
    private readonly width = LINE_BYTES,
  ) {}

  async attach(): Promise<void> {}

  private files(): string[] {
    if (!existsSync(this.dir)) return [];
    const all = readdirSync(this.dir);
    const tai = all.filter((n) => n.startsWith("@")).sort();
    const current = all.filter((n) => n === "current");
    const rotated = all
      .map((n) => /^(.*\.log)(?:\.(\d+))?$/.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .sort((a, b) =>
        a[1] === b[1]
          ? Number(b[2] ?? 0) - Number(a[2] ?? 0)
          : (a[1] as string).localeCompare(b[1] as string),
      )
      .map((m) => m[0]);
    return [...tai, ...current, ...rotated].map((n) => join(this.dir, n));
  }

  bytes(): number {
    let total = 0;
    for (const file of this.files()) {
      try {
        total += statSync(file).size;
      } catch {
        // Rotated away between the listing and the stat; its bytes are in the next file.
      }
    }
    return total;
  }

  /** Whether the newest non-empty file ends with the payload's last line. */
  holdsLast(): boolean {
    const last = `${String(this.expected).padStart(9, "0")} x`;
    for (const file of this.files().reverse()) {
      let fd: number;
      try {
        fd = openSync(file, "r");
      } catch {
        continue;
      }
      try {
        const size = statSync(file).size;
        if (size === 0) continue;
        const tail = Buffer.alloc(Math.min(size, 4096));
        readSync(fd, tail, 0, tail.length, size - tail.length);
        return tail.toString("latin1").includes(last);
      } finally {
        closeSync(fd);
      }
    }
    return false;
  }

  async verify(): Promise<LogCheck> {
    const verifier = new LogVerifier(this.expected, this.width);
    const decoder = new TextDecoder();
    for (const file of this.files()) {
      for await (const chunk of Bun.file(file).stream())
        verifier.feed(decoder.decode(chunk, { stream: true }));
      verifier.feed(decoder.decode());
    }
    return verifier.result();
  }

  close(): void {}
}

/** The numbered-line writer (scripts/writer.pl) as a service argv. */
export function writerArgv(
  script: string,
  files: { ready: string; go: string; done: string },
  lines: number,
  width = LINE_BYTES,
): string[] {
  return ["/usr/bin/perl", script, files.ready, files.go, files.done, String(lines), String(width)];
}

/** Peak RSS (VmHWM) summed over `pids`, in bytes; processes already gone count 0. */
export function peakRss(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "latin1"))?.[1];
      total += Number(kb ?? 0) * 1024;
    } catch {
      // gone
    }
  }
  return total;
}

/** Bytes a process has written so far (/proc/<pid>/io), or null once it is gone. */
export function bytesWritten(pid: number): number | null {
  try {
    const io = readFileSync(`/proc/${pid}/io`, "latin1");
    return Number(/^wchar:\s+(\d+)/m.exec(io)?.[1] ?? 0);
  } catch {
    return null;
  }
}
