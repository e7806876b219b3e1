// The bench's own measuring tools: if these are wrong, every figure is wrong.

import { describe, expect, test } from "bun:test";
import { LogVerifier } from "../../bench/lib/logs.ts";
import { descendants, PID_MAX, type ProcStat, pidsBetween } from "../../bench/lib/proc.ts";
import { httpFramer } from "../../bench/lib/rpc.ts";
import { percentile } from "../../bench/lib/util.ts";
import { formatNumber, markdownTable, type Results } from "../../bench/report.ts";
import { below } from "../../bench/workloads/types.ts";

const line = (seq: number) => `${String(seq).padStart(9, "0")} ${"x".repeat(90)}\n`;

describe("LogVerifier", () => {
  test("counts every line once, across arbitrary chunk boundaries and prefixes", () => {
    const text = [1, 2, 3, 4, 5].map((n) => `[+] svc: ${line(n)}`).join("");
    const v = new LogVerifier(5);
    for (let i = 0; i < text.length; i += 7) v.feed(text.slice(i, i + 7));
    expect(v.result()).toEqual({ lines: 5, lost: 0, disordered: 0 });
  });

  test("reports missing, repeated and reordered lines", () => {
    const v = new LogVerifier(6);
    v.feed([1, 3, 2, 2, 6].map(line).join(""));
    // 4 and 5 never came; 2 came after 3, then again.
    expect(v.result()).toEqual({ lines: 5, lost: 2, disordered: 2 });
  });

  test("a last line without newline still counts", () => {
    const v = new LogVerifier(2);
    v.feed(line(1) + line(2).trimEnd());
    expect(v.result()).toEqual({ lines: 2, lost: 0, disordered: 0 });
  });
});

describe("httpFramer", () => {
  test("counts pipelined responses split anywhere, content-length and chunked", () => {
    const a = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    const b = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    const stream = a + b + a;
    const frame = httpFramer();
    let total = 0;
    for (let i = 0; i < stream.length; i += 11) total += frame(stream.slice(i, i + 11));
    expect(total).toBe(3);
  });

  test("an incomplete body is not counted until it arrives", () => {
    const frame = httpFramer();
    expect(frame("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")).toBe(0);
    expect(frame("cd")).toBe(1);
  });
});

describe("proc helpers", () => {
  test("pidsBetween walks forward and wraps past pid_max to 300", () => {
    expect(pidsBetween(10, 13)).toEqual([11, 12, 13]);
    expect(pidsBetween(PID_MAX - 2, 301)).toEqual([PID_MAX - 1, 300, 301]);
    expect(pidsBetween(5, 5)).toEqual([]);
  });

  test("descendants follows parent links from the root only", () => {
    const st = (pid: number, ppid: number): ProcStat => ({
      pid,
      ppid,
      state: "S",
      comm: "x",
      cpuTicks: 0,
    });
    const table = [st(1, 0), st(10, 1), st(11, 10), st(12, 11), st(13, 10), st(20, 1)];
    expect(descendants(10, table).map((s) => s.pid)).toEqual([10, 11, 13, 12]);
    expect(descendants(99, table)).toEqual([]);
  });

  test("descendants of this test process include a child it spawned", async () => {
    const child = Bun.spawn(["sleep", "5"]);
    try {
      expect(descendants(process.pid).some((s) => s.pid === child.pid)).toBe(true);
    } finally {
      child.kill();
      await child.exited;
    }
  });
});

describe("statistics and report", () => {
  test("percentile uses the nearest rank", () => {
    const values = [5, 1, 4, 2, 3, 6, 7, 8, 9, 10];
    expect(percentile(values, 50)).toBe(5);
    expect(percentile(values, 90)).toBe(9);
    expect(percentile(values, 99)).toBe(10);
    expect(percentile([], 50)).toBeNaN();
  });

  test("formatNumber keeps 3 significant digits below 100", () => {
    expect([
      formatNumber(1234.6),
      formatNumber(123.4),
      formatNumber(12.34),
      formatNumber(1.234),
      formatNumber(0),
    ]).toEqual(["1,235", "123", "12.3", "1.23", "0"]);
  });

  test("the table has a ratio column per peer and text cells stay text", () => {
    const results: Results = {
      date: "2026-01-01",
      quick: false,
      machine: {},
      peers: [
        { name: "zinit", version: "1", restartDelayNote: "" },
        { name: "runit", version: "2", restartDelayNote: "" },
        { name: "pm2", unavailable: "npm failed", restartDelayNote: "" },
      ],
      workloads: [
        {
          id: "w",
          title: "W",
          metrics: [{ key: "m", label: "M", unit: "ms", better: "lower", target: below(2) }],
        },
      ],
      cells: { w: { m: { zinit: 1.5, runit: 3 } } },
      seconds: 1,
    };
    expect(markdownTable(results).split("\n")).toEqual([
      "| workload | metric | unit | zinit | runit | zinit target | zinit/runit |",
      "|---|---|---|---|---|---|---|",
      "| w | M (lower is better) | ms | 1.50 | 3 | < 2 ✓ | 0.50 |",
    ]);
    results.cells.w!.m!.runit = "n/a (a|b)";
    expect(markdownTable(results).split("\n")[2]).toBe(
      "| w | M (lower is better) | ms | 1.50 | n/a (a\\|b) | < 2 ✓ | - |",
    );
  });
});
