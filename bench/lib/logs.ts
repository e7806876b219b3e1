// The log payload and how it is checked. The writer numbers its lines, so a sink that lost,
// duplicated or reordered any of them is caught, whatever prefix or framing the sink adds.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { LogReader } from "../peers/types.ts";

/** Every payload line is `<9-digit seq> <90 x>\n`: exactly 100 bytes. */
export const LINE_BYTES = 100;
const PAYLOAD = /(\d{9}) x{90}/g;

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
  private last = 0;
  private partial = "";
  lines = 0;
  disordered = 0;

  constructor(private readonly expected: number) {
    this.seen = new Uint8Array(expected + 1);
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
    for (const match of text.matchAll(PAYLOAD)) {
      const seq = Number(match[1]);
      this.lines++;
      if (seq <= this.last || seq > this.expected || this.seen[seq] === 1) this.disordered++;
      if (seq <= this.expected) this.seen[seq] = 1;
      this.last = seq;
    }
  }
}

/**
 * Log files in one directory (rotated archives first, by name, then `current` or the single
 * file). Both svlogd and s6-log name archives `@<tai64n>.s`, which sorts chronologically.
 */
export class DirLogReader implements LogReader {
  constructor(
    private readonly dir: string,
    private readonly expected: number,
  ) {}

  async attach(): Promise<void> {}

  private files(): string[] {
    if (!existsSync(this.dir)) return [];
    const names = readdirSync(this.dir).filter((n) => n.startsWith("@") || n === "current");
    const plain = readdirSync(this.dir).filter((n) => n.endsWith(".log"));
    names.sort((a, b) => (a === "current" ? 1 : b === "current" ? -1 : a.localeCompare(b)));
    return [...names, ...plain].map((n) => join(this.dir, n));
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

  async verify(): Promise<LogCheck> {
    const verifier = new LogVerifier(this.expected);
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
): string[] {
  return ["/usr/bin/perl", script, files.ready, files.go, files.done, String(lines)];
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
