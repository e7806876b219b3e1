import { describe, expect, test } from "bun:test";
import { LineCutter } from "../../src/log/lines.ts";
import { type LogRecord, LogRing, matchesFilter, SLAB_OVERHEAD } from "../../src/log/ring.ts";
import { batches, batchOf } from "../helpers/lines.ts";

const MIXED = [
  "[+] web: a",
  "[-] web/test: b",
  "[-] zinit: c",
  "[+] webx: d",
  "[-] web: e",
  "[+] we: f",
  "[-] web: ------------ [start] ------------",
];

/** Stores an upstream-format line (`[+] label: text`) as the line it stands for. */
function put(ring: LogRing, line: string): void {
  const m = /^\[([+-])\] (.*?): (.*)$/s.exec(line);
  if (!m) throw new Error(`not a ring line: ${line}`);
  ring.pushText(m[2] as string, m[1] === "+" ? "stdout" : "stderr", m[3] as string);
}

function filled(capacity: number, lines: string[]): LogRing {
  const ring = new LogRing(capacity);
  for (const line of lines) put(ring, line);
  return ring;
}

/** `count` numbered lines of `label` in batches of `per`, as reads from a pipe deliver them. */
function flood(ring: LogRing, label: string, count: number, per = 1000, width = 0): void {
  const cutter = new LineCutter();
  const pad = "x".repeat(width);
  for (let i = 0; i < count; i += per) {
    let text = "";
    for (let j = i; j < Math.min(count, i + per); j++) text += `${label} ${j}${pad}\n`;
    for (const batch of batches(cutter, text)) ring.append(label, "stdout", batch);
  }
}

describe("matchesFilter", () => {
  test("is upstream's prefix match on `name:` after the 4-character marker", () => {
    expect(MIXED.filter((l) => matchesFilter(l, "web"))).toEqual([
      "[+] web: a",
      "[-] web: e",
      "[-] web: ------------ [start] ------------",
    ]);
    expect(MIXED.filter((l) => matchesFilter(l, "web/test"))).toEqual(["[-] web/test: b"]);
    expect(MIXED.filter((l) => matchesFilter(l, "zinit"))).toEqual(["[-] zinit: c"]);
    expect(MIXED.filter((l) => matchesFilter(l, undefined))).toEqual(MIXED);
    expect(matchesFilter("[+] web: a", "eb")).toBe(false);
  });
});

describe("LogRing: upstream's lines", () => {
  test("keeps the newest N lines, oldest first, across several wraparounds", () => {
    const ring = new LogRing(3);
    expect(ring.snapshot()).toEqual([]);
    put(ring, "[+] s: 1");
    put(ring, "[+] s: 2");
    expect(ring.snapshot()).toEqual(["[+] s: 1", "[+] s: 2"]);
    put(ring, "[+] s: 3");
    expect(ring.snapshot()).toEqual(["[+] s: 1", "[+] s: 2", "[+] s: 3"]);
    put(ring, "[+] s: 4");
    expect(ring.snapshot()).toEqual(["[+] s: 2", "[+] s: 3", "[+] s: 4"]);
    for (let i = 5; i <= 11; i++) put(ring, `[+] s: ${i}`);
    expect(ring.snapshot()).toEqual(["[+] s: 9", "[+] s: 10", "[+] s: 11"]);
  });

  test("the default-sized ring holds exactly 2000 lines, also when they arrive in batches", () => {
    const ring = new LogRing(2000);
    flood(ring, "s", 5000, 333);
    const lines = ring.snapshot();
    expect(lines.length).toBe(2000);
    expect(ring.lines).toBe(2000);
    expect(lines[0]).toBe("[+] s: s 3000");
    expect(lines[1999]).toBe("[+] s: s 4999");
  });

  test("snapshot filters by service name the way upstream does", () => {
    const ring = filled(10, MIXED);
    expect(ring.snapshot()).toEqual(MIXED);
    expect(ring.snapshot("web")).toEqual([
      "[+] web: a",
      "[-] web: e",
      "[-] web: ------------ [start] ------------",
    ]);
    expect(ring.snapshot("zinit")).toEqual(["[-] zinit: c"]);
    expect(ring.snapshot("web/test")).toEqual(["[-] web/test: b"]);
    expect(ring.snapshot("nope")).toEqual([]);
    // `a:b` is a valid service name; upstream's prefix rule shows its lines under `a` too.
    const odd = filled(10, ["[+] a:b: x", "[+] a: y", "[+] ab: z"]);
    expect(odd.snapshot("a")).toEqual(["[+] a:b: x", "[+] a: y"]);
  });

  test("when full, the source holding the most loses its oldest line first", () => {
    const ring = filled(5, MIXED);
    // web held 2 lines each time the ring overflowed: its `a`, then its `e` went.
    expect(ring.snapshot()).toEqual([
      "[-] web/test: b",
      "[-] zinit: c",
      "[+] webx: d",
      "[+] we: f",
      "[-] web: ------------ [start] ------------",
    ]);
  });

  test("capacity 0, negative, fractional or NaN keeps at least one line instead of crashing", () => {
    for (const capacity of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const ring = filled(capacity, ["[+] a: 1", "[+] a: 2"]);
      expect(ring.capacity).toBe(1);
      expect(ring.snapshot()).toEqual(["[+] a: 2"]);
    }
    expect(new LogRing(2.9).capacity).toBe(2);
  });

  test("subscribers get new matching lines synchronously, and no backlog", () => {
    const ring = filled(10, ["[+] web: old"]);
    const all: string[] = [];
    const web: string[] = [];
    ring.subscribe(undefined, (l) => all.push(l));
    const unsubscribe = ring.subscribe("web", (l) => web.push(l));
    for (const line of MIXED) put(ring, line);
    expect(all).toEqual(MIXED);
    expect(web).toEqual(["[+] web: a", "[-] web: e", "[-] web: ------------ [start] ------------"]);
    unsubscribe();
    unsubscribe();
    put(ring, "[+] web: after");
    expect(web.length).toBe(3);
    expect(all.at(-1)).toBe("[+] web: after");
  });

  test("a throwing listener is removed and neither breaks a store nor other listeners", () => {
    const ring = new LogRing(10);
    const got: string[] = [];
    let calls = 0;
    ring.subscribe(undefined, () => {
      calls++;
      throw new Error("broken follower");
    });
    ring.subscribe(undefined, (l) => got.push(l));
    expect(() => put(ring, "[+] a: 1")).not.toThrow();
    put(ring, "[+] a: 2");
    expect(calls).toBe(1);
    expect(got).toEqual(["[+] a: 1", "[+] a: 2"]);
    expect(ring.snapshot()).toEqual(["[+] a: 1", "[+] a: 2"]);
  });

  test("snapshotAndSubscribe: backlog plus live lines, no gap and no duplicate", () => {
    const ring = new LogRing(4);
    for (let i = 0; i < 6; i++) put(ring, `[+] a: ${i}`);
    const live: string[] = [];
    const { lines, unsubscribe } = ring.snapshotAndSubscribe("a", (l) => live.push(l));
    for (let i = 6; i < 9; i++) put(ring, `[+] a: ${i}`);
    unsubscribe();
    put(ring, "[+] a: 9");
    expect(lines).toEqual(["[+] a: 2", "[+] a: 3", "[+] a: 4", "[+] a: 5"]);
    expect(live).toEqual(["[+] a: 6", "[+] a: 7", "[+] a: 8"]);
  });

  test("lines stored from inside a listener reach every subscriber in one order", () => {
    const ring = new LogRing(10);
    const first: string[] = [];
    const second: string[] = [];
    ring.subscribe(undefined, (l) => {
      first.push(l);
      if (l === "[+] a: 1") put(ring, "[-] zinit: about a");
    });
    ring.subscribe(undefined, (l) => second.push(l));
    put(ring, "[+] a: 1");
    put(ring, "[+] a: 2");
    const expected = ["[+] a: 1", "[-] zinit: about a", "[+] a: 2"];
    expect(first).toEqual(expected);
    expect(second).toEqual(expected);
    expect(ring.snapshot()).toEqual(expected);
  });

  test("snapshotAndSubscribe from inside a listener neither loses nor repeats a line", () => {
    const ring = new LogRing(10);
    let late: { lines: string[]; unsubscribe: () => void } | null = null;
    const lateLive: string[] = [];
    ring.subscribe(undefined, (l) => {
      if (l !== "[+] a: 1") return;
      put(ring, "[+] a: queued");
      late = ring.snapshotAndSubscribe(undefined, (m) => lateLive.push(m));
    });
    put(ring, "[+] a: 1");
    put(ring, "[+] a: 2");
    expect(late!.lines).toEqual(["[+] a: 1"]);
    expect(lateLive).toEqual(["[+] a: queued", "[+] a: 2"]);
  });

  test("a listener unsubscribed by an earlier listener does not get the current line", () => {
    const ring = new LogRing(10);
    const got: string[] = [];
    let unsubscribeSecond = () => {};
    ring.subscribe(undefined, () => unsubscribeSecond());
    unsubscribeSecond = ring.subscribe(undefined, (l) => got.push(l));
    put(ring, "[+] a: 1");
    expect(got).toEqual([]);
  });

  test("snapshot with a byte cap keeps the newest lines whose JSON fits", () => {
    const ring = new LogRing(100);
    for (let i = 0; i < 10; i++) put(ring, `[+] a: ${"x".repeat(90)}${i}`);
    const one = JSON.stringify(ring.snapshot()[0]).length + 1;
    const kept = ring.snapshot(undefined, 2 + 3 * one);
    expect(kept).toEqual(ring.snapshot().slice(-3));
    expect(ring.snapshot("a", 1)).toEqual([]);
  });
});

describe("LogRing: time, sequence and budgets", () => {
  test("every line carries the wall-clock time it was stored at and a consecutive seq", () => {
    let now = 1_767_225_600_000;
    const ring = new LogRing({ lines: 100, clock: () => now });
    const got: LogRecord[] = [];
    ring.follow({}, { line: (r) => got.push(r), end: () => {} });
    ring.pushText("web", "stdout", "one");
    now += 1500;
    ring.append("web", "stderr", batchOf("two\r\nthree\n"));
    expect(got).toEqual([
      { seq: 1, time: 1_767_225_600_000, service: "web", stream: "stdout", line: "one" },
      { seq: 2, time: 1_767_225_601_500, service: "web", stream: "stderr", line: "two" },
      { seq: 3, time: 1_767_225_601_500, service: "web", stream: "stderr", line: "three" },
    ]);
    expect(ring.lastSeq).toBe(3);
  });

  test("a flood from one service leaves another's last lines, and the line budget holds", () => {
    const ring = new LogRing(2000);
    flood(ring, "quiet", 300, 7);
    flood(ring, "chatty", 1_000_000, 1000);
    expect(ring.lines).toBe(2000);
    expect(ring.linesOf("quiet")).toBe(300);
    expect(ring.linesOf("chatty")).toBe(1700);
    const quiet = ring.snapshot("quiet");
    expect(quiet[0]).toBe("[+] quiet: quiet 0");
    expect(quiet.at(-1)).toBe("[+] quiet: quiet 299");
    expect(ring.snapshot("chatty").at(-1)).toBe("[+] chatty: chatty 999999");
  });

  test("a source over its equal share is cut back to it, never below; ties share line by line", () => {
    const ring = new LogRing(900);
    flood(ring, "a", 800, 100);
    flood(ring, "b", 800, 100);
    flood(ring, "c", 200, 50);
    // c holds less than an equal share (300) and keeps everything; a and b split the rest.
    expect(ring.linesOf("c")).toBe(200);
    expect(ring.linesOf("a") + ring.linesOf("b")).toBe(700);
    expect(Math.abs(ring.linesOf("a") - ring.linesOf("b"))).toBeLessThanOrEqual(1);
    expect(ring.lines).toBe(900);
  });

  test("the byte budget evicts the largest source's oldest reads; a quiet one keeps its lines", () => {
    const ring = new LogRing({ lines: 1_000_000, bytes: 1024 * 1024 });
    flood(ring, "quiet", 100, 10);
    // 20 MB of 1000-byte lines: 20 times the budget.
    flood(ring, "wide", 20_000, 64, 990);
    expect(ring.bytes).toBeLessThanOrEqual(ring.byteCapacity);
    expect(ring.bytes).toBeGreaterThan(ring.byteCapacity / 2);
    expect(ring.linesOf("quiet")).toBe(100);
    const wide = ring.snapshot("wide");
    expect(wide.at(-1)?.startsWith("[+] wide: wide 19999x")).toBe(true);
    // Newest lines of `wide` are contiguous: whole reads were dropped, oldest first.
    const first = Number(/wide (\d+)/.exec(wide[0] as string)?.[1]);
    expect(wide.length).toBe(20_000 - first);
  });

  test("the newest read stays even when it alone is over the byte budget", () => {
    const ring = new LogRing({ lines: 10, bytes: 1 });
    expect(ring.byteCapacity).toBe(1024 * 1024);
    const big = `${"y".repeat(60_000)}\n`.repeat(20);
    ring.append("big", "stdout", batchOf(big));
    expect(ring.lines).toBe(10);
    expect(ring.bytes).toBeGreaterThan(ring.byteCapacity);
    put(ring, "[+] small: hi");
    expect(ring.snapshot()).toEqual(["[+] small: hi"]);
    expect(ring.bytes).toBeLessThan(1000 + SLAB_OVERHEAD);
  });

  test("a source at or under an equal share keeps its lines; one that lost them all is gone", () => {
    const ring = new LogRing(3);
    put(ring, "[+] first: 1");
    flood(ring, "stay", 10, 1);
    expect(ring.snapshot()).toEqual(["[+] first: 1", "[+] stay: stay 8", "[+] stay: stay 9"]);
    const one = new LogRing(1);
    put(one, "[+] gone: 1");
    put(one, "[+] next: 2");
    expect(one.snapshot()).toEqual(["[+] next: 2"]);
    expect(one.linesOf("gone")).toBe(0);
    put(one, "[+] gone: 3");
    expect(one.snapshot()).toEqual(["[+] gone: 3"]);
  });

  test("slabsBetween finds the reads holding a range of sequence numbers", () => {
    const ring = new LogRing(100);
    flood(ring, "a", 30, 10);
    const seqs = (from: number, to: number) =>
      ring.slabsBetween(from, to).map((s) => [s.seq, s.count]);
    expect(seqs(1, 30)).toEqual([
      [1, 10],
      [11, 10],
      [21, 10],
    ]);
    expect(seqs(10, 11)).toEqual([
      [1, 10],
      [11, 10],
    ]);
    expect(seqs(25, 1000)).toEqual([[21, 10]]);
    expect(seqs(31, 40)).toEqual([]);
  });

  test("a million lines in reads of 1000 keep exactly the newest 2000 (timing printed)", () => {
    const ring = new LogRing(2000);
    const start = performance.now();
    flood(ring, "svc", 1_000_000, 1000);
    const ms = performance.now() - start;
    console.log(`1e6 lines into a 2000-line ring (batches of 1000): ${ms.toFixed(0)} ms`);
    const lines = ring.snapshot();
    expect(lines.length).toBe(2000);
    expect(lines[0]).toBe("[+] svc: svc 998000");
    expect(lines[1999]).toBe("[+] svc: svc 999999");
  });
});

describe("LogRing: record followers", () => {
  test("follow filters by exact label and pattern; end tells every follower, now and later", () => {
    const ring = new LogRing(100);
    const web: string[] = [];
    const errors: string[] = [];
    const ended: string[] = [];
    ring.follow(
      { names: new Set(["web"]) },
      { line: (r) => web.push(r.line), end: (why) => ended.push(`web: ${why}`) },
    );
    const stop = ring.follow(
      { grep: (t) => t.includes("error") },
      { line: (r) => errors.push(`${r.service}: ${r.line}`), end: (why) => ended.push(why) },
    );
    for (const line of ["[+] web: hi", "[-] web/test: error x", "[+] web: error y", "[+] db: ok"]) {
      put(ring, line);
    }
    expect(web).toEqual(["hi", "error y"]);
    expect(errors).toEqual(["web/test: error x", "web: error y"]);
    stop();
    ring.end("zinit stopped");
    put(ring, "[+] web: after");
    expect(web).toEqual(["hi", "error y"]);
    expect(ended).toEqual(["web: zinit stopped"]);
    const late: string[] = [];
    ring.follow({}, { line: () => late.push("line"), end: (why) => late.push(why) });
    expect(late).toEqual(["zinit stopped"]);
  });

  test("a throwing follower is dropped without disturbing the store", () => {
    const ring = new LogRing(10);
    let calls = 0;
    ring.follow(
      {},
      {
        line: () => {
          calls++;
          throw new Error("gone");
        },
        end: () => {},
      },
    );
    put(ring, "[+] a: 1");
    put(ring, "[+] a: 2");
    expect(calls).toBe(1);
    expect(ring.snapshot()).toEqual(["[+] a: 1", "[+] a: 2"]);
  });
});
