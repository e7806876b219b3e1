import { describe, expect, test } from "bun:test";
import { FrameSplitter, oversizedReply } from "../../src/api/framing.ts";

const REQ = '{"jsonrpc":"2.0","id":1,"method":"service_list"}';

/** Feeds `chunk` and takes every frame it completes. */
function split(s: FrameSplitter, chunk: Uint8Array | string): string[] {
  s.feed(chunk);
  const frames: string[] = [];
  for (let f = s.next(); f !== null; f = s.next()) frames.push(f);
  return frames;
}

/** End of input: the frames still to come, an unfinished one last. */
function finish(s: FrameSplitter): string[] {
  s.finish();
  const frames: string[] = [];
  for (let f = s.next(); f !== null; f = s.next()) frames.push(f);
  return frames;
}

describe("FrameSplitter", () => {
  test("newline-terminated frame", () => {
    expect(split(new FrameSplitter(), `${REQ}\n`)).toEqual([REQ]);
  });

  test("frame without newline", () => {
    expect(split(new FrameSplitter(), REQ)).toEqual([REQ]);
  });

  test("two frames back to back in one write, and whitespace between frames", () => {
    const s = new FrameSplitter();
    expect(split(s, `${REQ}${REQ}`)).toEqual([REQ, REQ]);
    expect(split(s, ` \r\n\t${REQ}\n\n  ${REQ}`)).toEqual([REQ, REQ]);
  });

  test("one frame split into 1-byte writes", () => {
    const s = new FrameSplitter();
    const bytes = new TextEncoder().encode(`${REQ}\n`);
    const out: string[] = [];
    for (let i = 0; i < bytes.length; i++) {
      const frames = split(s, bytes.subarray(i, i + 1));
      if (i < REQ.length - 1) expect(frames).toEqual([]);
      out.push(...frames);
    }
    expect(out).toEqual([REQ]);
  });

  test("multi-byte UTF-8 split across writes is decoded whole", () => {
    const text = '{"a":"héllo → 😀"}';
    const bytes = new TextEncoder().encode(text);
    const s = new FrameSplitter();
    const out: string[] = [];
    for (let i = 0; i < bytes.length; i++) out.push(...split(s, bytes.subarray(i, i + 1)));
    expect(out).toEqual([text]);
  });

  test("long strings, escapes at a chunk's end, and runs of backslashes", () => {
    const s = new FrameSplitter();
    expect(split(s, '{"a":"x\\')).toEqual([]);
    expect(split(s, '"y}"}')).toEqual(['{"a":"x\\"y}"}']);
    const slashes = `{"b":"${"\\\\".repeat(1000)}","c":"]"}`;
    expect(JSON.parse(slashes).b).toBe("\\".repeat(1000));
    expect(split(s, `${slashes}${REQ}`)).toEqual([slashes, REQ]);
    const long = `{"p":"${"p".repeat(100_000)}"}`;
    expect(split(s, long.slice(0, 50_000))).toEqual([]);
    expect(split(s, long.slice(50_000))).toEqual([long]);
  });

  test("a batch is one frame", () => {
    const batch = `[${REQ},${REQ}]`;
    expect(split(new FrameSplitter(), batch)).toEqual([batch]);
  });

  test("brackets and escaped quotes inside strings do not count", () => {
    const tricky = '{"a":"}]{[","b":"\\"}","c":"\\\\"}';
    expect(JSON.parse(tricky)).toEqual({ a: "}]{[", b: '"}', c: "\\" });
    const s = new FrameSplitter();
    expect(split(s, `${tricky}${REQ}`)).toEqual([tricky, REQ]);
  });

  test("garbage becomes its own frame and does not swallow a following valid frame", () => {
    const s = new FrameSplitter();
    expect(split(s, `hello world\n${REQ}`)).toEqual(["hello world", REQ]);
    expect(split(s, `junk${REQ}`)).toEqual(["junk", REQ]);
    expect(split(s, "}}]\n")).toEqual(["}}]"]);
  });

  test("garbage split across writes is one frame", () => {
    const s = new FrameSplitter();
    expect(split(s, "abc")).toEqual([]);
    expect(split(s, "def\n")).toEqual(["abcdef"]);
  });

  test("end() hands back an unfinished frame so it can be answered", () => {
    const s = new FrameSplitter();
    expect(split(s, '{"jsonrpc":')).toEqual([]);
    expect(finish(s)).toEqual(['{"jsonrpc":']);
    expect(finish(s)).toEqual([]);
    const g = new FrameSplitter();
    expect(split(g, "nonsense")).toEqual([]);
    expect(finish(g)).toEqual(["nonsense"]);
    expect(finish(new FrameSplitter())).toEqual([]);
  });

  test("a frame over the limit overflows; frames before it are kept; later input is ignored", () => {
    const s = new FrameSplitter(64);
    const big = `{"x":"${"a".repeat(100)}"}`;
    expect(split(s, `${REQ}${big}`)).toEqual([REQ]);
    expect(s.overflowed).toBe(true);
    expect(split(s, REQ)).toEqual([]);
    expect(finish(s)).toEqual([]);
  });

  test("a frame that grows past the limit over many writes overflows without buffering it all", () => {
    const s = new FrameSplitter(1000);
    expect(split(s, '{"x":"')).toEqual([]);
    for (let i = 0; i < 9; i++) expect(split(s, "a".repeat(100))).toEqual([]);
    expect(s.overflowed).toBe(false);
    split(s, "a".repeat(100));
    expect(s.overflowed).toBe(true);
  });

  test("a frame of exactly the limit passes", () => {
    const frame = `{"x":"${"a".repeat(50)}"}`;
    const s = new FrameSplitter(frame.length);
    expect(split(s, frame.slice(0, 10))).toEqual([]);
    expect(split(s, frame.slice(10))).toEqual([frame]);
    expect(s.overflowed).toBe(false);
  });

  test("a fed chunk is split one frame per next(), and only on demand", () => {
    const s = new FrameSplitter();
    s.feed(`${REQ}{}[1]`);
    expect(s.pending).toBe(true);
    expect(s.next()).toBe(REQ);
    expect(s.next()).toBe("{}");
    expect(s.pending).toBe(true);
    expect(s.next()).toBe("[1]");
    expect(s.next()).toBeNull();
    expect(s.pending).toBe(false);
  });

  test("keep() copies the unsplit rest: the transport may then reuse its buffer", () => {
    const buffer = new TextEncoder().encode(`${REQ}{"b":2}{"c":`);
    const s = new FrameSplitter();
    s.feed(buffer);
    expect(s.next()).toBe(REQ);
    s.keep();
    buffer.fill(0x20);
    expect(s.next()).toBe('{"b":2}');
    expect(s.next()).toBeNull();
    expect(s.holding).toBe(true);
    expect(split(s, "3}")).toEqual(['{"c":3}']);
  });

  test("input fed before the last was split queues behind it", () => {
    const s = new FrameSplitter();
    s.feed("{}{}");
    expect(s.next()).toBe("{}");
    s.feed('{"a"');
    s.feed(":1}");
    expect([s.next(), s.next(), s.next()]).toEqual(["{}", '{"a":1}', null]);
  });

  test("a quarter of a million frames in one chunk cost nothing until they are taken", () => {
    const s = new FrameSplitter();
    s.feed("{}".repeat(256 * 1024));
    const t0 = performance.now();
    for (let i = 0; i < 64; i++) expect(s.next()).toBe("{}");
    // 64 of them take microseconds; splitting the whole chunk at once held the event loop.
    expect(performance.now() - t0).toBeLessThan(20);
    expect(s.pending).toBe(true);
  });

  test("oversized reply is jsonrpsee's", () => {
    expect(oversizedReply(10485760)).toBe(
      '{"jsonrpc":"2.0","error":{"code":-32007,"message":"Request is too big","data":"Exceeded max limit of 10485760"},"id":null}',
    );
  });
});
