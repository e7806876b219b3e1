import { describe, expect, test } from "bun:test";
import { compileGrep } from "../../src/log/grep.ts";
import { LineCutter } from "../../src/log/lines.ts";
import { LogQueries, type LogQuery, PAGE_RECORDS, type QueryResult } from "../../src/log/query.ts";
import { type LogRecord, LogRing } from "../../src/log/ring.ts";
import { batches } from "../helpers/lines.ts";

const T0 = 1_767_225_600_000;

/** A ring whose clock the test moves; `say` stores one line. */
function ringAt(lines = 10_000) {
  const clock = { now: T0 };
  const ring = new LogRing({ lines, clock: () => clock.now });
  const queries = new LogQueries(ring);
  const say = (label: string, text: string, stream: "stdout" | "stderr" = "stdout") =>
    ring.pushText(label, stream, text);
  return { clock, ring, queries, say };
}

const texts = (r: QueryResult) => r.records.map((x) => `${x.service}: ${x.line}`);

/** Every page of a query, the way a client continues it. */
async function allPages(queries: LogQueries, q: LogQuery): Promise<LogRecord[]> {
  let page = await queries.run(q);
  const out = [...page.records];
  while (page.next !== null) {
    page = await queries.run({ ...q, after: page.next, to: page.to });
    out.push(...page.records);
  }
  return out;
}

describe("log queries", () => {
  test("no filter: every line as a record, oldest first, with time, service, stream", async () => {
    const { clock, queries, say } = ringAt();
    say("web", "up");
    clock.now += 10;
    say("web", "oops", "stderr");
    const r = await queries.run({});
    expect(r).toEqual({
      records: [
        { seq: 1, time: T0, service: "web", stream: "stdout", line: "up" },
        { seq: 2, time: T0 + 10, service: "web", stream: "stderr", line: "oops" },
      ],
      next: null,
      to: 2,
    });
  });

  test("names are exact labels, any of several; zinit and NAME/test are labels too", async () => {
    const { queries, say } = ringAt();
    for (const label of ["web", "web/test", "db", "zinit", "webx", "web"]) say(label, label);
    const run = async (names: string[]) => texts(await queries.run({ names: new Set(names) }));
    expect(await run(["web"])).toEqual(["web: web", "web: web"]);
    expect(await run(["web/test", "db"])).toEqual(["web/test: web/test", "db: db"]);
    expect(await run(["zinit"])).toEqual(["zinit: zinit"]);
    expect(await run(["nobody"])).toEqual([]);
  });

  test("lines: the last N matching lines, oldest first", async () => {
    const { queries, say } = ringAt();
    for (let i = 0; i < 10; i++) say(i % 2 ? "odd" : "even", `${i}`);
    expect(texts(await queries.run({ lines: 3 }))).toEqual(["odd: 7", "even: 8", "odd: 9"]);
    expect(texts(await queries.run({ lines: 2, names: new Set(["even"]) }))).toEqual([
      "even: 6",
      "even: 8",
    ]);
    expect(texts(await queries.run({ lines: 0 }))).toEqual([]);
    expect((await queries.run({ lines: 1000 })).records.length).toBe(10);
  });

  test("since and until: by the time each line was read, both ends included", async () => {
    const { clock, queries, say } = ringAt();
    for (let i = 0; i < 5; i++) {
      say("s", `t${i}`);
      clock.now += 1000;
    }
    expect(texts(await queries.run({ since: T0 + 2000 }))).toEqual(["s: t2", "s: t3", "s: t4"]);
    expect(texts(await queries.run({ until: T0 + 1000 }))).toEqual(["s: t0", "s: t1"]);
    expect(texts(await queries.run({ since: T0 + 1000, until: T0 + 3000, lines: 2 }))).toEqual([
      "s: t2",
      "s: t3",
    ]);
    expect(texts(await queries.run({ since: T0 + 9000 }))).toEqual([]);
  });

  test("grep: a pattern against each line's text; combined with names and lines", async () => {
    const { queries, say } = ringAt();
    for (const t of ["GET /a 200", "GET /b 500", "POST /c 500", "boot"]) say("web", t);
    say("db", "GET 500 too");
    const grep = compileGrep("^(GET|POST) .* 5\\d\\d$");
    expect(texts(await queries.run({ grep }))).toEqual(["web: GET /b 500", "web: POST /c 500"]);
    expect(texts(await queries.run({ grep: compileGrep("500"), names: new Set(["db"]) }))).toEqual([
      "db: GET 500 too",
    ]);
    expect(texts(await queries.run({ grep: compileGrep("500"), lines: 1 }))).toEqual([
      "db: GET 500 too",
    ]);
  });

  test("pages: at most `limit` records each; the cursor continues to the snapshot's end", async () => {
    const { queries, say } = ringAt();
    for (let i = 1; i <= 25; i++) say("p", `${i}`);
    const first = await queries.run({ limit: 10 });
    expect(first.records.map((r) => r.line)).toEqual([
      "1",
      "2",
      "3",
      "4",
      "5",
      "6",
      "7",
      "8",
      "9",
      "10",
    ]);
    expect(first.next).toBe(10);
    expect(first.to).toBe(25);
    // Lines stored after the first page are outside its snapshot.
    say("p", "late");
    const second = await queries.run({ limit: 10, after: 10, to: first.to });
    const third = await queries.run({ limit: 10, after: second.next as number, to: first.to });
    expect([second.next, third.next, third.to]).toEqual([20, null, 25]);
    expect(third.records.map((r) => r.line)).toEqual(["21", "22", "23", "24", "25"]);
    // The tail of N is paged from its oldest line, too.
    const tail = await allPages(queries, { lines: 15, limit: 4 });
    expect(tail.map((r) => r.line)).toEqual([
      ...Array.from({ length: 14 }, (_, i) => `${i + 12}`),
      "late",
    ]);
  });

  test("a page stops at a megabyte of text, whatever the limit", async () => {
    const { ring, queries } = ringAt(100_000);
    const cutter = new LineCutter();
    const line = `${"z".repeat(60_000)}\n`;
    for (const b of batches(cutter, line.repeat(40))) ring.append("big", "stdout", b);
    const page = await queries.run({});
    expect(page.records.length).toBe(17);
    expect(page.next).toBe(17);
    expect(PAGE_RECORDS).toBe(5000);
    expect((await allPages(queries, {})).length).toBe(40);
  });

  test("a follower subscribed before the snapshot gets every later line exactly once", async () => {
    const { ring, queries, say } = ringAt(100_000);
    for (let i = 0; i < 3000; i++) say("f", `old ${i}`);
    const live: LogRecord[] = [];
    ring.follow({ names: new Set(["f"]) }, { line: (r) => live.push(r), end: () => {} });
    // Lines keep coming while the pages are read, between and during the calls.
    const writer = setInterval(() => {
      for (let i = 0; i < 50; i++) say("f", `new ${live.length}`);
    }, 1);
    let page = await queries.run({ names: new Set(["f"]), limit: 100 });
    const seen = [...page.records];
    while (page.next !== null) {
      page = await queries.run({
        names: new Set(["f"]),
        limit: 100,
        after: page.next,
        to: page.to,
      });
      seen.push(...page.records);
    }
    const end = page.to;
    await Bun.sleep(20);
    clearInterval(writer);
    const merged = [...seen, ...live.filter((r) => r.seq > end)];
    const seqs = merged.map((r) => r.seq);
    expect(seqs.length).toBe(ring.lastSeq);
    expect(seqs).toEqual(Array.from({ length: ring.lastSeq }, (_, i) => i + 1));
    expect(live.length).toBeGreaterThan(0);
  });

  test("a long query yields to the event loop, and lines stored meanwhile do no harm", async () => {
    const { ring, queries } = ringAt(300_000);
    const cutter = new LineCutter();
    for (let i = 0; i < 300; i++) {
      let chunk = "";
      for (let j = 0; j < 1000; j++) chunk += `line ${i * 1000 + j} ${"pad ".repeat(5)}\n`;
      for (const b of batches(cutter, chunk)) ring.append("q", "stdout", b);
    }
    let ticks = 0;
    const timer = setInterval(() => {
      ticks++;
      ring.pushText("q", "stdout", "meanwhile");
    }, 0);
    // A pattern that matches nothing reads every line of the ring.
    const result = await queries.run({ grep: compileGrep("no such (line|text)$") });
    clearInterval(timer);
    expect(result.records).toEqual([]);
    expect(ticks).toBeGreaterThan(0);
  });

  test("queries run one at a time, in the order asked", async () => {
    const { queries, say } = ringAt();
    say("a", "1");
    const order: number[] = [];
    await Promise.all(
      [1, 2, 3].map((n) => queries.run({ lines: n }).then((r) => order.push(r.records.length))),
    );
    expect(order).toEqual([1, 1, 1]);
  });
});
