import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { filePrefix, LogFiles, MAX_OPEN_FILES } from "../../src/log/files.ts";
import type { LineBatch } from "../../src/log/lines.ts";
import { loadNative } from "../../src/log/native.ts";
import { batchOf } from "../helpers/lines.ts";
import { asRootWith } from "../helpers/privilege.ts";
import { run } from "../helpers/run.ts";

loadNative();
const T = Date.UTC(2026, 0, 1, 12, 0, 0, 5);
const TIMEOUT = 60_000;

let dir = "";
let now = 0;
let reports: string[] = [];
const env = { now: () => now, report: (level: string, m: string) => reports.push(`${level} ${m}`) };

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "zinit-files-"));
  now = 0;
  reports = [];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function batch(text: string | Uint8Array): LineBatch {
  const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
  return batchOf(bytes);
}

function numbered(from: number, n: number, width = 40): LineBatch {
  let text = "";
  for (let i = from; i < from + n; i++)
    text += `${String(i).padStart(6, "0")} ${"x".repeat(width)}\n`;
  return batch(text);
}

/** Every line of the file and its rotations, oldest first. */
function linesOf(path: string, keep: number): string[] {
  const out: string[] = [];
  for (let i = keep; i >= 0; i--) {
    const p = i === 0 ? path : `${path}.${i}`;
    if (existsSync(p)) out.push(...readFileSync(p, "utf8").split("\n").slice(0, -1));
  }
  return out;
}

describe("log files", () => {
  test("each line as `<ISO time> [+] label: text`, \\r\\n dropped, bad UTF-8 as U+FFFD", () => {
    const files = new LogFiles(env);
    const path = join(dir, "sub", "web.log");
    const file = files.get({ path, maxBytes: 1 << 20, keep: 2 });
    file.writeBatch("web", "stdout", batch("hello\r\nworld\n"), T);
    file.writeBatch("web/test", "stderr", batch(Uint8Array.of(0x61, 0xff, 0x62, 0x0a)), T + 1000);
    expect(readFileSync(path, "utf8")).toBe(
      "2026-01-01T12:00:00.005Z [+] web: hello\n" +
        "2026-01-01T12:00:00.005Z [+] web: world\n" +
        "2026-01-01T12:00:01.005Z [-] web/test: a\uFFFDb\n",
    );
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(filePrefix(T, "x", "stderr")).toBe("2026-01-01T12:00:00.005Z [-] x: ");
    expect(reports).toEqual([]);
  });

  test("rotation: by size at line boundaries, NAME.log.1 newest … NAME.log.N oldest", () => {
    const files = new LogFiles(env);
    const path = join(dir, "r.log");
    const maxBytes = 8192;
    const file = files.get({ path, maxBytes, keep: 50 });
    // 2000 lines of ~73 bytes in reads of various sizes: about 18 files.
    let next = 0;
    for (const n of [1, 7, 300, 2, 900, 90, 700]) {
      file.writeBatch("r", "stdout", numbered(next, n), T);
      next += n;
    }
    const names = readdirSync(dir).sort();
    expect(names.length).toBeGreaterThan(15);
    for (const name of names) {
      const size = statSync(join(dir, name)).size;
      expect(size).toBeLessThanOrEqual(maxBytes);
      expect(readFileSync(join(dir, name), "utf8").endsWith("\n")).toBe(true);
    }
    const lines = linesOf(path, 50);
    expect(lines.length).toBe(2000);
    lines.forEach((line, i) => {
      expect(line).toBe(
        `2026-01-01T12:00:00.005Z [+] r: ${String(i).padStart(6, "0")} ${"x".repeat(40)}`,
      );
    });
  });

  test("rotation keeps `keep` old files and drops the oldest; keep 0 keeps only the live file", () => {
    const files = new LogFiles(env);
    const path = join(dir, "k.log");
    const file = files.get({ path, maxBytes: 4096, keep: 3 });
    for (let i = 0; i < 20; i++) file.writeBatch("k", "stdout", numbered(i * 50, 50), T);
    expect(readdirSync(dir).sort()).toEqual(["k.log", "k.log.1", "k.log.2", "k.log.3"]);
    const kept = linesOf(path, 3);
    // The newest lines survive, contiguous, up to the last one written.
    expect(kept.at(-1)).toContain("000999 ");
    const first = Number(/\] k: (\d+)/.exec(kept[0] as string)?.[1]);
    expect(kept.length).toBe(1000 - first);

    const zero = files.get({ path: join(dir, "z.log"), maxBytes: 4096, keep: 0 });
    for (let i = 0; i < 5; i++) zero.writeBatch("z", "stdout", numbered(i * 50, 50), T);
    expect(readdirSync(dir).filter((n) => n.startsWith("z."))).toEqual(["z.log"]);
    expect(statSync(join(dir, "z.log")).size).toBeLessThanOrEqual(4096);
  });

  test("a line longer than the rotation size is written whole into a fresh file", () => {
    const files = new LogFiles(env);
    const path = join(dir, "long.log");
    const file = files.get({ path, maxBytes: 4096, keep: 5 });
    file.writeBatch("l", "stdout", batch("short\n"), T);
    file.writeBatch("l", "stdout", batch(`${"L".repeat(10_000)}\nafter\n`), T);
    expect(linesOf(path, 5).map((l) => l.length)).toEqual([37, 10_032, 37]);
    expect(readFileSync(`${path}.1`, "utf8").length).toBe(10_033);
    // A line past 64 KiB comes in pieces, each a line of its own; no file grows past its size.
    const cut = files.get({ path: join(dir, "cut.log"), maxBytes: 100_000, keep: 9 });
    cut.writeBatch("c", "stdout", batch(`${"C".repeat(200_000)}\n`), T);
    const pieces = linesOf(join(dir, "cut.log"), 9).map((l) => l.length - 32);
    expect(pieces).toEqual([65_536, 65_536, 65_536, 3392]);
    for (const name of readdirSync(dir).filter((n) => n.startsWith("cut."))) {
      expect(statSync(join(dir, name)).size).toBeLessThanOrEqual(100_000);
    }
  });

  test("reopen: after logrotate moved the file, lines go to a new file at the path", () => {
    const files = new LogFiles(env);
    const path = join(dir, "app.log");
    const file = files.get({ path, maxBytes: 1 << 20, keep: 1 });
    file.writeBatch("app", "stdout", batch("before\n"), T);
    renameSync(path, `${path}.rotated`);
    file.writeBatch("app", "stdout", batch("still the old file\n"), T);
    expect(files.reopen()).toEqual([path]);
    expect(existsSync(path)).toBe(true);
    file.writeBatch("app", "stdout", batch("after\n"), T);
    expect(readFileSync(`${path}.rotated`, "utf8")).toContain("still the old file");
    expect(readFileSync(path, "utf8")).toBe("2026-01-01T12:00:00.005Z [+] app: after\n");
  });

  test(`at most ${MAX_OPEN_FILES} files are open at once; a closed one reopens on its next line`, () => {
    const files = new LogFiles(env);
    const all = Array.from({ length: MAX_OPEN_FILES + 40 }, (_, i) =>
      files.get({ path: join(dir, `s${i}.log`), maxBytes: 1 << 20, keep: 1 }),
    );
    for (const file of all) file.writeBatch("s", "stdout", batch("one\n"), T);
    const openHere = () =>
      readdirSync("/proc/self/fd").filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
        } catch {
          return false;
        }
      }).length;
    expect(openHere()).toBe(MAX_OPEN_FILES);
    (all[0] as (typeof all)[0]).writeBatch("s", "stdout", batch("two\n"), T);
    expect(readFileSync(join(dir, "s0.log"), "utf8").split("\n").length).toBe(3);
    expect(openHere()).toBe(MAX_OPEN_FILES);
    files.closeAll();
    expect(openHere()).toBe(0);
  });

  test("a FIFO or directory at the path is refused without blocking, reported once", () => {
    const files = new LogFiles(env);
    const fifo = join(dir, "fifo.log");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    const file = files.get({ path: fifo, maxBytes: 1 << 20, keep: 1 });
    file.writeBatch("f", "stdout", batch("a\nb\n"), T);
    file.writeBatch("f", "stdout", batch("c\n"), T);
    expect(reports.length).toBe(1);
    expect(reports[0]).toMatch(
      /^error log file .*fifo\.log: not a regular file; its lines are dropped/,
    );
    mkdirSync(join(dir, "d.log"));
    files
      .get({ path: join(dir, "d.log"), maxBytes: 1 << 20, keep: 1 })
      .writeBatch("d", "stdout", batch("x\n"), T);
    expect(reports.length).toBe(2);
    expect(reports[1]).toMatch(/d\.log: not a regular file/);
  });

  // A private tmpfs: a mount namespace and mount(8).
  asRootWith(Bun.which("mount") ? null : "no mount(8)").test(
    "disk full and read-only: reported once, lines dropped, retried, then the file says how many were lost",
    async () => {
      const out = await run([
        "unshare",
        "--mount",
        process.execPath,
        join(import.meta.dir, "fixtures", "disk-full-child.ts"),
        dir,
      ]);
      expect(out.stderr).toBe("");
      expect(out.code).toBe(0);
      const r = JSON.parse(out.stdout);
      // One report for the whole time the disk was full, then one when writing worked again.
      expect(r.whileFull).toBe(1);
      expect(r.reports[0]).toMatch(
        /^error log file .*full\/svc\.log: ENOSPC: no space left on device/,
      );
      expect(r.reports[1]).toMatch(
        /^info log file .*full\/svc\.log: writing again; \d+ lines were lost$/,
      );
      expect(r.fullSize).toBeGreaterThan(30_000);
      const lines: string[] = r.text.split("\n").slice(0, -1);
      const note = lines.findIndex((l) => l.includes("[-] zinit: "));
      const lost = Number(/zinit: (\d+) lines lost: ENOSPC/.exec(lines[note] as string)?.[1]);
      const kept = lines.slice(0, note).filter((l) => /\] svc: line \d+ x{80}$/.test(l)).length;
      // Every line written is either in the file whole or counted as lost (a cut one counts).
      expect(kept + lost).toBe(2000);
      expect(lines.slice(note + 1).map((l) => /line (\d+)/.exec(l)?.[1])).toEqual([
        "2000",
        "2001",
        "2002",
      ]);
      expect(r.roReports).toBe(1);
      expect(r.reports.some((m: string) => /ro\/svc\.log: EROFS/.test(m))).toBe(true);
      const ro: string[] = r.roText.split("\n").slice(0, -1);
      expect(ro[0]).toMatch(/\[-\] zinit: 10 lines lost: EROFS/);
      expect(ro.slice(1).map((l) => /line (\d+)/.exec(l)?.[1])).toEqual(["10", "11"]);
    },
    TIMEOUT,
  );
});
