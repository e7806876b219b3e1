import { describe, expect, test } from "bun:test";
import { closeSync, readdirSync, readlinkSync, statSync, writeSync } from "node:fs";
import { formatLine, startSeparator } from "../../src/log/lines.ts";
import { loadNative } from "../../src/log/native.ts";
import { openPipe as nonBlockingPipe, readLines } from "../helpers/pipe.ts";

const TIMEOUT = 60_000;
// The daemon's own line cutter (test/log/lines.test.ts checks the JavaScript one against it).
loadNative();

interface Result {
  lines: string[];
  ends: number;
}

/** Reads `fd` with readLines and resolves once onEnd ran. */
function collect(fd: number, maxLine?: number): Promise<Result> {
  const result: Result = { lines: [], ends: 0 };
  return new Promise((resolve) => {
    readLines(
      fd,
      (line) => result.lines.push(line),
      () => {
        result.ends++;
        resolve(result);
      },
      maxLine,
    );
  });
}

/** A pipe already holding `bytes` (small enough for the pipe buffer) with its write end closed. */
function filledPipe(bytes: Uint8Array | string): number {
  const p = nonBlockingPipe();
  writeSync(p.write, typeof bytes === "string" ? Buffer.from(bytes) : bytes);
  closeSync(p.write);
  return p.read;
}

/** A shell writer into a fresh pipe; the parent's copy of the write end is closed at once. */
function shellWriter(script: string): { read: number; exited: Promise<number> } {
  const p = nonBlockingPipe();
  const child = Bun.spawn(["sh", "-c", script], {
    stdin: "ignore",
    stdout: p.write,
    stderr: "inherit",
  });
  closeSync(p.write);
  return { read: p.read, exited: child.exited };
}

function fdsOnPipe(inode: number): number[] {
  return readdirSync("/proc/self/fd")
    .map(Number)
    .filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === `pipe:[${inode}]`;
      } catch {
        return false;
      }
    });
}

describe("formatLine / startSeparator", () => {
  test("match upstream's ring formats byte for byte", () => {
    expect(formatLine("redis", "stdout", "Ready to accept")).toBe("[+] redis: Ready to accept");
    expect(formatLine("redis", "stderr", "oops")).toBe("[-] redis: oops");
    expect(formatLine("redis/test", "stdout", "")).toBe("[+] redis/test: ");
    expect(startSeparator("redis")).toBe("[-] redis: ------------ [start] ------------");
    expect(startSeparator("redis/test")).toBe("[-] redis/test: ------------ [start] ------------");
  });
});

describe("readLines", () => {
  test("splits on \\n, strips one trailing \\r, keeps empty lines and the partial last line", async () => {
    const { lines, ends } = await collect(filledPipe("a\r\nb\n\r\nc\rd\ne\r\r\nlast"));
    expect(lines).toEqual(["a", "b", "", "c\rd", "e\r", "last"]);
    expect(ends).toBe(1);
  });

  test("an empty stream gives no line; a lone newline gives one empty line", async () => {
    expect((await collect(filledPipe(""))).lines).toEqual([]);
    expect((await collect(filledPipe("\n"))).lines).toEqual([""]);
  });

  test("invalid UTF-8 becomes U+FFFD and reading goes on", async () => {
    const bytes = new Uint8Array([
      0x61,
      0xff,
      0x62,
      0x0a, // a <bad> b
      0xc3,
      0x28,
      0x0a, // broken 2-byte sequence
      0xe2,
      0x82,
      0xac,
      0x0a, // € intact
      0xf0,
      0x9f,
      0x0a, // truncated 4-byte sequence
      0xed,
      0xa0,
      0x80,
      0x0a, // an encoded surrogate, invalid in UTF-8
      ...new TextEncoder().encode("after ünïcödé 😀\n"),
      0xe2,
      0x82, // truncated at EOF
    ]);
    const { lines } = await collect(filledPipe(bytes));
    expect(lines).toEqual([
      "a\uFFFDb",
      "\uFFFD(",
      "€",
      "\uFFFD",
      "\uFFFD\uFFFD\uFFFD",
      "after ünïcödé 😀",
      "\uFFFD",
    ]);
  });

  test(
    "a character split across two writes is decoded whole",
    async () => {
      const w = shellWriter(
        "printf '\\342\\202'; sleep 0.2; printf '\\254\\n\\360\\237'; sleep 0.2; printf '\\230\\200\\n'",
      );
      const { lines } = await collect(w.read);
      expect(lines).toEqual(["€", "😀"]);
      expect(await w.exited).toBe(0);
    },
    TIMEOUT,
  );

  test(
    "a 1 MiB line without newline arrives as exact 64 KiB pieces",
    async () => {
      const w = shellWriter("head -c 1048576 /dev/zero | tr '\\0' a");
      const { lines, ends } = await collect(w.read);
      expect(await w.exited).toBe(0);
      expect(ends).toBe(1);
      expect(lines.length).toBe(16);
      const piece = "a".repeat(65536);
      for (const line of lines) expect(line === piece).toBe(true);
    },
    TIMEOUT,
  );

  test(
    "a long line followed by more lines is cut, then the next lines are intact",
    async () => {
      const w = shellWriter("head -c 200000 /dev/zero | tr '\\0' b; printf '\\r\\nnext\\n'");
      const { lines } = await collect(w.read);
      expect(lines.map((l) => l.length)).toEqual([65536, 65536, 65536, 3392, 4]);
      expect(lines.slice(0, 4).join("")).toBe("b".repeat(200000));
      expect(lines[4]).toBe("next");
    },
    TIMEOUT,
  );

  test("maxLine cuts (in bytes) never split a UTF-8 sequence nor leave a `\\r` as its own line", async () => {
    // "😀" is 4 bytes: with 4-byte pieces, "abc😀d" is cut before it, not through it.
    const { lines } = await collect(filledPipe("abc😀d\nabcd\r\nabcdefghij\n"), 4);
    expect(lines).toEqual(["abc", "😀", "d", "abcd", "abcd", "efgh", "ij"]);
  });

  test(
    "closes the read fd (and Bun's duplicate of it) at EOF",
    async () => {
      const p = nonBlockingPipe();
      const inode = statSync(`/proc/self/fd/${p.read}`).ino;
      expect(fdsOnPipe(inode).sort()).toEqual([p.read, p.write].sort());
      writeSync(p.write, "x\n");
      closeSync(p.write);
      const { lines } = await collect(p.read);
      expect(lines).toEqual(["x"]);
      let readEnd = "";
      try {
        readEnd = readlinkSync(`/proc/self/fd/${p.read}`);
      } catch {
        readEnd = "closed";
      }
      expect(readEnd).not.toBe(`pipe:[${inode}]`);
      // Bun releases its internal duplicate on its own schedule, just after the stream ends.
      const deadline = performance.now() + 10_000;
      while (fdsOnPipe(inode).length > 0 && performance.now() < deadline) await Bun.sleep(10);
      expect(fdsOnPipe(inode)).toEqual([]);
    },
    TIMEOUT,
  );

  test("a live stream holds one fd for the read end: ours is closed once Bun has its own", async () => {
    const p = nonBlockingPipe();
    const inode = statSync(`/proc/self/fd/${p.read}`).ino;
    const ended = collect(p.read);
    const readers = fdsOnPipe(inode).filter((fd) => fd !== p.write);
    expect(readers).toHaveLength(1);
    writeSync(p.write, "still read\n");
    closeSync(p.write);
    expect((await ended).lines).toEqual(["still read"]);
  });

  test("a bad fd ends the reader without throwing", async () => {
    const { lines, ends } = await collect(987654);
    expect(lines).toEqual([]);
    expect(ends).toBe(1);
  });

  test(
    "a throwing sink loses lines but keeps draining: the writer is never cut off",
    async () => {
      const w = shellWriter("yes | head -c 1048576");
      let calls = 0;
      const ended = new Promise<void>((resolve) =>
        readLines(
          w.read,
          () => {
            calls++;
            throw new Error("sink broke");
          },
          resolve,
        ),
      );
      await ended;
      expect(await w.exited).toBe(0);
      expect(calls).toBe(524288);
    },
    TIMEOUT,
  );

  test("200 MiB of 100-byte lines: every line arrives, exactly (throughput printed)", async () => {
    const body = "x".repeat(99);
    const total = 200 * 1024 * 1024;
    const w = shellWriter(`yes ${body} | head -c ${total}`);
    let count = 0;
    let wrong = 0;
    const start = performance.now();
    const rssBefore = process.memoryUsage().rss;
    let rssMax = rssBefore;
    const ended = new Promise<void>((resolve) =>
      readLines(
        w.read,
        (line) => {
          if (line !== body) wrong++;
          if (++count % 200_000 === 0) rssMax = Math.max(rssMax, process.memoryUsage().rss);
        },
        resolve,
      ),
    );
    await ended;
    const seconds = (performance.now() - start) / 1000;
    expect(await w.exited).toBe(0);
    console.log(
      `200 MiB through readLines: ${(total / 1e6 / seconds).toFixed(0)} MB/s, ` +
        `${(count / seconds / 1e6).toFixed(2)} M lines/s, RSS growth ${((rssMax - rssBefore) / 1e6).toFixed(1)} MB`,
    );
    expect(count).toBe(total / 100);
    expect(wrong).toBe(0);
  }, 120_000);
});
