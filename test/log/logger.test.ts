import { describe, expect, test } from "bun:test";
import { closeSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openPipe as nonBlockingPipe, readLines } from "../helpers/pipe.ts";
import { run } from "../helpers/run.ts";

const TIMEOUT = 60_000;
const fixture = (name: string) => join(import.meta.dir, "fixtures", name);

describe("log (zinit's own messages)", () => {
  test(
    "stderr gets `zinit: LEVEL msg` per message, debug only at debug level, no throttling",
    async () => {
      const { stdout, stderr, code } = await run([process.execPath, fixture("logger-child.ts")]);
      expect(code).toBe(3);
      expect(stderr).toBe(
        [
          "zinit: INFO hello",
          "zinit: WARN careful",
          "zinit: ERROR bad\\nthing\\nhere",
          "zinit: DEBUG shown",
          ...Array(7).fill("zinit: INFO again"),
          "zinit: INFO not in the ring",
          "zinit: ERROR last words",
          "",
        ].join("\n"),
      );
      expect(JSON.parse(stdout)).toEqual([
        "[-] zinit: hello",
        "[-] zinit: careful",
        "[-] zinit: bad\\nthing\\nhere",
        "[-] zinit: shown",
        ...Array(7).fill("[-] zinit: again"),
      ]);
    },
    TIMEOUT,
  );

  test(
    "enableKmsg writes one record per message with its syslog priority",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "zinit-kmsg-"));
      try {
        const kmsg = join(dir, "kmsg");
        writeFileSync(kmsg, "");
        const { stderr, code } = await run([process.execPath, fixture("logger-child.ts"), kmsg]);
        expect(code).toBe(3);
        expect(stderr.startsWith("kmsg:true\nzinit: INFO hello\n")).toBe(true);
        expect(readFileSync(kmsg, "utf8")).toBe(
          [
            "<6>zinit: INFO hello",
            "<4>zinit: WARN careful",
            "<3>zinit: ERROR bad\\nthing\\nhere",
            "<7>zinit: DEBUG shown",
            ...Array(7).fill("<6>zinit: INFO again"),
            "<6>zinit: INFO not in the ring",
            "<3>zinit: ERROR last words",
            "",
          ].join("\n"),
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    TIMEOUT,
  );

  test(
    "an unopenable kmsg is skipped silently",
    async () => {
      const { stderr, code } = await run([
        process.execPath,
        fixture("logger-child.ts"),
        "/nonexistent/kmsg",
      ]);
      expect(code).toBe(3);
      expect(stderr.startsWith("kmsg:false\nzinit: INFO hello\n")).toBe(true);
    },
    TIMEOUT,
  );
});

describe("forwardTo", () => {
  test(
    "copies lines to stdout raw, in order, complete",
    async () => {
      const { stdout, stderr, code } = await run([
        process.execPath,
        fixture("forward-child.ts"),
        "3000",
        "250",
      ]);
      expect(code).toBe(0);
      expect(stderr).toMatch(/^written flags=\d+\n$/);
      expect(stdout).toBe(Array.from({ length: 3000 }, (_, i) => `line ${i}\n`).join(""));
    },
    TIMEOUT,
  );

  test(
    "a stdout nobody reads never blocks: lines are dropped and the gap is reported",
    async () => {
      const count = 200_000;
      const p = nonBlockingPipe();
      const proc = Bun.spawn(
        [process.execPath, fixture("forward-child.ts"), String(count), "1000"],
        {
          stdin: "ignore",
          stdout: p.write,
          stderr: "pipe",
        },
      );
      closeSync(p.write);
      // Nothing reads the pipe until the child has written everything: if forwarding blocked, the
      // child would hang here instead of reporting.
      const reader = proc.stderr.getReader();
      let report = "";
      while (!report.includes("\n")) {
        const { done, value } = await reader.read();
        if (done) break;
        report += new TextDecoder().decode(value);
      }
      const flags = Number.parseInt(/flags=(\d+)/.exec(report)?.[1] ?? "", 8);
      // Our reopened description is non-blocking; the inherited one the services share is not.
      expect(flags & 0o4000).toBe(0);

      const lines: string[] = [];
      await new Promise<void>((resolve) => readLines(p.read, (l) => lines.push(l), resolve));
      expect(await proc.exited).toBe(0);
      const note = lines.at(-1)!;
      const kept = lines.slice(0, -1);
      const dropped = Number(/^zinit: (\d+) lines dropped$/.exec(note)?.[1]);
      expect(kept.length).toBeGreaterThan(0);
      expect(dropped).toBeGreaterThan(0);
      expect(kept.length + dropped).toBe(count);
      expect(kept.every((l, i) => l === `line ${i}`)).toBe(true);
    },
    TIMEOUT,
  );

  test(
    "a stdout whose reader is gone (EPIPE) neither throws nor stops the process",
    async () => {
      const p = nonBlockingPipe();
      closeSync(p.read);
      const proc = Bun.spawn([process.execPath, fixture("forward-child.ts"), "3000", "250"], {
        stdin: "ignore",
        stdout: p.write,
        stderr: "pipe",
      });
      closeSync(p.write);
      const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
      expect(stderr).toMatch(/^written flags=\d+\n$/);
      expect(code).toBe(0);
    },
    TIMEOUT,
  );
});
