import { describe, expect, test } from "bun:test";
import { LogRing, matchesFilter } from "../../src/log/ring.ts";

const MIXED = [
  "[+] web: a",
  "[-] web/test: b",
  "[-] zinit: c",
  "[+] webx: d",
  "[-] web: e",
  "[+] we: f",
  "[-] web: ------------ [start] ------------",
];

function filled(capacity: number, lines: string[]): LogRing {
  const ring = new LogRing(capacity);
  for (const line of lines) ring.push(line);
  return ring;
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

describe("LogRing", () => {
  test("keeps the newest N lines, oldest first, across several wraparounds", () => {
    const ring = new LogRing(3);
    expect(ring.snapshot()).toEqual([]);
    ring.push("[+] s: 1");
    ring.push("[+] s: 2");
    expect(ring.snapshot()).toEqual(["[+] s: 1", "[+] s: 2"]);
    ring.push("[+] s: 3");
    expect(ring.snapshot()).toEqual(["[+] s: 1", "[+] s: 2", "[+] s: 3"]);
    ring.push("[+] s: 4");
    expect(ring.snapshot()).toEqual(["[+] s: 2", "[+] s: 3", "[+] s: 4"]);
    for (let i = 5; i <= 11; i++) ring.push(`[+] s: ${i}`);
    expect(ring.snapshot()).toEqual(["[+] s: 9", "[+] s: 10", "[+] s: 11"]);
  });

  test("the default-sized ring holds exactly 2000 lines", () => {
    const ring = new LogRing(2000);
    for (let i = 0; i < 5000; i++) ring.push(`[+] s: ${i}`);
    const lines = ring.snapshot();
    expect(lines.length).toBe(2000);
    expect(lines[0]).toBe("[+] s: 3000");
    expect(lines[1999]).toBe("[+] s: 4999");
  });

  test("snapshot filters by service name after wrapping", () => {
    const ring = filled(5, MIXED);
    expect(ring.snapshot()).toEqual(MIXED.slice(2));
    expect(ring.snapshot("web")).toEqual([
      "[-] web: e",
      "[-] web: ------------ [start] ------------",
    ]);
    expect(ring.snapshot("zinit")).toEqual(["[-] zinit: c"]);
    expect(ring.snapshot("web/test")).toEqual([]);
    expect(ring.snapshot("nope")).toEqual([]);
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
    for (const line of MIXED) ring.push(line);
    expect(all).toEqual(MIXED);
    expect(web).toEqual(["[+] web: a", "[-] web: e", "[-] web: ------------ [start] ------------"]);
    unsubscribe();
    unsubscribe();
    ring.push("[+] web: after");
    expect(web.length).toBe(3);
    expect(all.at(-1)).toBe("[+] web: after");
  });

  test("a throwing listener is removed and neither breaks push nor other listeners", () => {
    const ring = new LogRing(10);
    const got: string[] = [];
    let calls = 0;
    ring.subscribe(undefined, () => {
      calls++;
      throw new Error("broken follower");
    });
    ring.subscribe(undefined, (l) => got.push(l));
    expect(() => ring.push("[+] a: 1")).not.toThrow();
    ring.push("[+] a: 2");
    expect(calls).toBe(1);
    expect(got).toEqual(["[+] a: 1", "[+] a: 2"]);
    expect(ring.snapshot()).toEqual(["[+] a: 1", "[+] a: 2"]);
  });

  test("snapshotAndSubscribe: backlog plus live lines, no gap and no duplicate", () => {
    const ring = new LogRing(4);
    for (let i = 0; i < 6; i++) ring.push(`[+] a: ${i}`);
    const live: string[] = [];
    const { lines, unsubscribe } = ring.snapshotAndSubscribe("a", (l) => live.push(l));
    for (let i = 6; i < 9; i++) ring.push(`[+] a: ${i}`);
    unsubscribe();
    ring.push("[+] a: 9");
    expect(lines).toEqual(["[+] a: 2", "[+] a: 3", "[+] a: 4", "[+] a: 5"]);
    expect(live).toEqual(["[+] a: 6", "[+] a: 7", "[+] a: 8"]);
  });

  test("lines pushed from inside a listener reach every subscriber in one order", () => {
    const ring = new LogRing(10);
    const first: string[] = [];
    const second: string[] = [];
    ring.subscribe(undefined, (l) => {
      first.push(l);
      if (l === "[+] a: 1") ring.push("[-] zinit: about a");
    });
    ring.subscribe(undefined, (l) => second.push(l));
    ring.push("[+] a: 1");
    ring.push("[+] a: 2");
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
      ring.push("[+] a: queued");
      late = ring.snapshotAndSubscribe(undefined, (m) => lateLive.push(m));
    });
    ring.push("[+] a: 1");
    ring.push("[+] a: 2");
    expect(late!.lines).toEqual(["[+] a: 1"]);
    expect(lateLive).toEqual(["[+] a: queued", "[+] a: 2"]);
  });

  test("a listener unsubscribed by an earlier listener does not get the current line", () => {
    const ring = new LogRing(10);
    const got: string[] = [];
    let unsubscribeSecond = () => {};
    ring.subscribe(undefined, () => unsubscribeSecond());
    unsubscribeSecond = ring.subscribe(undefined, (l) => got.push(l));
    ring.push("[+] a: 1");
    expect(got).toEqual([]);
  });

  test("a million pushes into a full ring keep exactly the newest 2000 (timing printed)", () => {
    const ring = new LogRing(2000);
    const start = performance.now();
    for (let i = 0; i < 1_000_000; i++) ring.push(`[+] svc: ${i}`);
    const ms = performance.now() - start;
    console.log(`1e6 pushes into a 2000-line ring: ${ms.toFixed(0)} ms`);
    const lines = ring.snapshot();
    expect(lines.length).toBe(2000);
    expect(lines[0]).toBe("[+] svc: 998000");
    expect(lines[1999]).toBe("[+] svc: 999999");
  });
});
