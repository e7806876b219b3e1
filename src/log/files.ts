// Log files (`log: file`, `init --log-dir`): each line as `<ISO time> [+] <label>: <text>`, the
// format `zinit log --timestamps` prints. Each read of a service's output becomes one write(2) to
// a regular file, so the page cache absorbs it and neither the service nor the event loop waits
// on the disk. Rotation is by size and count, rename-based (`NAME.log` → `NAME.log.1` … up to
// `NAME.log.<keep>`), at line boundaries. `reopen` closes and reopens every file after an outside
// logrotate moved it. A write error (disk full, read-only, I/O) is reported once; lines are
// dropped (they are still in the ring) and writing is tried again a second later, and the file
// then says how many lines it lost. Nothing here ever throws into the daemon.

import { isUtf8 } from "node:buffer";
import {
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { fsErrorText } from "../core/errors.ts";
import { type LineBatch, lineStart, lineText, type Stream } from "./lines.ts";
import { formatLines } from "./native.ts";

/** After a failed write, lines are dropped for this long before the next try. */
export const RETRY_MS = 1000;
/** Open log files at most; the least recently written are closed (and reopened on their next line). */
export const MAX_OPEN_FILES = 256;
/** Smallest rotation size honoured: a file always holds at least one whole line. */
const MIN_MAX_BYTES = 4096;
const FILE_MODE = 0o600;

export interface FileConfig {
  path: string;
  /** Rotate before the file would grow past this many bytes. */
  maxBytes: number;
  /** Rotated files kept; 0 deletes the full file instead. */
  keep: number;
}

interface FileEnv {
  /** Monotonic milliseconds, for the retry delay. */
  now(): number;
  /** One of zinit's own log lines. */
  report(level: "info" | "error", message: string): void;
}

/** `2026-01-01T12:00:00.123Z`: UTC, millisecond precision, sorts as text. */
function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** The per-line prefix of a log file and of `zinit log --timestamps`. */
export function filePrefix(time: number, label: string, stream: Stream): string {
  return `${isoTime(time)} ${stream === "stdout" ? "[+]" : "[-]"} ${label}: `;
}

const encoder = new TextEncoder();
/** Formatting space shared by every file: a batch is formatted and written before the next. */
let scratch = new Uint8Array(1024 * 1024);

function countLines(bytes: Uint8Array, from: number, to: number): number {
  let n = 0;
  for (let i = bytes.indexOf(10, from); i !== -1 && i < to; i = bytes.indexOf(10, i + 1)) n++;
  return n;
}

interface Failure {
  error: string;
  lastTry: number;
  lost: number;
  /** The last write stopped inside a line: the next one starts on a fresh line. */
  midLine: boolean;
}

export class LogFile {
  private fd = -1;
  private size = 0;
  private failure: Failure | null = null;
  private cfg: FileConfig;

  constructor(
    cfg: FileConfig,
    private readonly env: FileEnv,
    private readonly onOpen: (file: LogFile) => void = () => {},
  ) {
    this.cfg = cfg;
  }

  get path(): string {
    return this.cfg.path;
  }

  configure(cfg: FileConfig): void {
    this.cfg = cfg;
  }

  /** Writes the lines of a batch read at `time` from `label`'s `stream`. */
  writeBatch(label: string, stream: Stream, batch: LineBatch, time: number): void {
    const { bytes, ends } = batch;
    if (ends.length === 0 || !this.ready(ends.length)) return;
    const prefix = encoder.encode(filePrefix(time, label, stream));
    if (!isUtf8(bytes.subarray(0, ends[ends.length - 1]))) {
      // Rare: decode each line (U+FFFD for what is not UTF-8), as the ring's readers see it.
      for (let k = 0; k < ends.length; k++) {
        if (!this.writeText(prefix, lineText(bytes, ends, k))) {
          this.lose(ends.length - k - 1);
          return;
        }
      }
      return;
    }
    let k = 0;
    while (k < ends.length) {
      const room = this.room();
      // Bytes of lines k…j-1 as written, at most: their raw bytes plus a prefix and a newline
      // each (a piece of a cut line has no newline of its own).
      const cost = (j: number) =>
        (ends[j - 1] as number) - lineStart(ends, k) + (j - k) * (prefix.length + 1);
      let j = ends.length;
      if (cost(j) > room) {
        // The most whole lines that still fit before rotation (at least one in an empty file).
        let lo = k;
        let hi = j;
        while (lo < hi) {
          const mid = (lo + hi + 1) >> 1;
          if (cost(mid) <= room) lo = mid;
          else hi = mid - 1;
        }
        j = lo > k ? lo : this.size === 0 ? k + 1 : k;
      }
      if (j === k) {
        if (!this.rotate()) {
          this.lose(ends.length - k);
          return;
        }
        continue;
      }
      if (!this.put(bytes, ends, k, j, prefix)) return;
      k = j;
    }
  }

  /** Closes the file; the next line (or `open`) opens the path again. */
  reopen(): boolean {
    this.close();
    return this.open();
  }

  close(): void {
    if (this.fd < 0) return;
    try {
      closeSync(this.fd);
    } catch {
      // EIO on close: the data is the kernel's now either way.
    }
    this.fd = -1;
  }

  private room(): number {
    return Math.max(MIN_MAX_BYTES, this.cfg.maxBytes) - this.size;
  }

  /** Formats and writes lines k…j-1; false (the rest of the batch counted as lost) if writing failed. */
  private put(
    bytes: Uint8Array,
    ends: Uint32Array,
    k: number,
    j: number,
    prefix: Uint8Array,
  ): boolean {
    while (k < j) {
      let n = formatLines(bytes, ends, k, j, prefix, scratch, 0, scratch.length);
      let done = j;
      if (n < 0) {
        const fitted = -1 - n;
        if (fitted === 0) {
          // One line longer than the scratch space: grow it (lines are at most 64 KiB).
          scratch = new Uint8Array(scratch.length * 2);
          continue;
        }
        done = k + fitted;
        n = formatLines(bytes, ends, k, done, prefix, scratch, 0, scratch.length);
      }
      if (!this.write(scratch, n)) {
        this.lose(ends.length - done);
        return false;
      }
      k = done;
    }
    return true;
  }

  private writeText(prefix: Uint8Array, text: string): boolean {
    const body = encoder.encode(`${text}\n`);
    const line = new Uint8Array(prefix.length + body.length);
    line.set(prefix);
    line.set(body, prefix.length);
    if (this.size > 0 && line.length > this.room() && !this.rotate()) {
      this.lose(1);
      return false;
    }
    return this.write(line, line.length);
  }

  private lose(lines: number): void {
    if (this.failure) this.failure.lost += lines;
  }

  /** Whether lines can be written now; if not, they are counted as lost. */
  private ready(lines: number): boolean {
    const f = this.failure;
    if (f && this.env.now() - f.lastTry < RETRY_MS) {
      f.lost += lines;
      return false;
    }
    if (this.fd < 0 && !this.open()) {
      this.lose(lines);
      return false;
    }
    if (f && this.failure === f) {
      // Writing works again: say so in the file, before the new lines.
      const note = `${f.midLine ? "\n" : ""}${isoTime(Date.now())} [-] zinit: ${f.lost} lines lost: ${f.error}\n`;
      this.failure = null;
      const bytes = encoder.encode(note);
      if (!this.write(bytes, bytes.length)) {
        this.lose(f.lost + lines);
        return false;
      }
      this.env.report("info", `log file ${this.path}: writing again; ${f.lost} lines were lost`);
    }
    return true;
  }

  open(): boolean {
    if (this.fd >= 0) return true;
    let fd = -1;
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o755 });
      if (!isRegularOrAbsent(this.path)) throw new Error("not a regular file");
      // O_NONBLOCK: a FIFO at this path must not block the open; it is refused just below.
      fd = openSync(
        this.path,
        constants.O_WRONLY |
          constants.O_APPEND |
          constants.O_CREAT |
          constants.O_NOCTTY |
          constants.O_NONBLOCK,
        FILE_MODE,
      );
      const st = fstatSync(fd);
      if (!st.isFile()) {
        closeSync(fd);
        throw new Error("not a regular file");
      }
      this.fd = fd;
      this.size = st.size;
      this.onOpen(this);
      return true;
    } catch (err) {
      this.fail(err, 0, false);
      return false;
    }
  }

  private rotate(): boolean {
    this.close();
    const { path, keep } = this.cfg;
    try {
      if (keep <= 0) {
        unlinkSync(path);
      } else {
        for (let i = keep - 1; i >= 1; i--) {
          try {
            renameSync(`${path}.${i}`, `${path}.${i + 1}`);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
          }
        }
        renameSync(path, `${path}.1`);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
        this.fail(err, 0, false);
        return false;
      }
    }
    this.size = 0;
    return this.open();
  }

  /** write(2) until done; on failure, the rest is lost and the failure recorded. */
  private write(bytes: Uint8Array, length: number): boolean {
    let off = 0;
    try {
      while (off < length) off += writeSync(this.fd, bytes, off, length - off);
      this.size += length;
      return true;
    } catch (err) {
      this.size += off;
      this.fail(err, countLines(bytes, off, length), off > 0 && bytes[off - 1] !== 10);
      return false;
    }
  }

  private fail(err: unknown, lost: number, midLine: boolean): void {
    const error = fsErrorText(err);
    const first = this.failure === null;
    const f: Failure = this.failure ?? { error, lastTry: 0, lost: 0, midLine: false };
    f.error = error;
    f.lastTry = this.env.now();
    f.lost += lost;
    f.midLine ||= midLine;
    this.failure = f;
    // Reopened on the next try: the error may have been the descriptor's (EIO, a lost mount).
    this.close();
    if (first) {
      this.env.report(
        "error",
        `log file ${this.path}: ${error}; its lines are dropped (they are still in the ring) and writing is retried every ${RETRY_MS / 1000} s`,
      );
    }
  }
}

function isRegularOrAbsent(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return true;
  }
}

/** Every log file by path, with at most MAX_OPEN_FILES descriptors open at once. */
export class LogFiles {
  private readonly files = new Map<string, LogFile>();
  /** Open files, least recently opened first. */
  private readonly open = new Set<LogFile>();

  constructor(private readonly env: FileEnv) {}

  get(cfg: FileConfig): LogFile {
    let file = this.files.get(cfg.path);
    if (file) {
      file.configure(cfg);
      return file;
    }
    file = new LogFile(cfg, this.env, (f) => this.opened(f));
    this.files.set(cfg.path, file);
    return file;
  }

  /** Reopens every open file (after an outside rotation); returns their paths. */
  reopen(): string[] {
    const paths: string[] = [];
    for (const file of [...this.open]) {
      this.open.delete(file);
      file.reopen();
      paths.push(file.path);
    }
    return paths;
  }

  closeAll(): void {
    for (const file of this.open) file.close();
    this.open.clear();
  }

  private opened(file: LogFile): void {
    this.open.delete(file);
    this.open.add(file);
    for (const old of this.open) {
      if (this.open.size <= MAX_OPEN_FILES) break;
      if (old === file) continue;
      // Closed on its own (a write error) or the least recently opened: not counted any more.
      old.close();
      this.open.delete(old);
    }
  }
}
