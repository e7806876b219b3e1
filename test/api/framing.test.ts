import { describe, expect, test } from "bun:test";
import { FrameSplitter, oversizedReply } from "../../src/api/framing.ts";

const REQ = '{"jsonrpc":"2.0","id":1,"method":"service_list"}';

describe("FrameSplitter", () => {
  test("newline-terminated frame", () => {
    expect(new FrameSplitter().push(`${REQ}\n`)).toEqual([REQ]);
  });

  test("frame without newline", () => {
    expect(new FrameSplitter().push(REQ)).toEqual([REQ]);
  });

  test("two frames back to back in one write, and whitespace between frames", () => {
    const s = new FrameSplitter();
    expect(s.push(`${REQ}${REQ}`)).toEqual([REQ, REQ]);
    expect(s.push(` \r\n\t${REQ}\n\n  ${REQ}`)).toEqual([REQ, REQ]);
  });

  test("one frame split into 1-byte writes", () => {
    const s = new FrameSplitter();
    const bytes = new TextEncoder().encode(`${REQ}\n`);
    const out: string[] = [];
    for (let i = 0; i < bytes.length; i++) {
      const frames = s.push(bytes.subarray(i, i + 1));
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
    for (let i = 0; i < bytes.length; i++) out.push(...s.push(bytes.subarray(i, i + 1)));
    expect(out).toEqual([text]);
  });

  test("a batch is one frame", () => {
    const batch = `[${REQ},${REQ}]`;
    expect(new FrameSplitter().push(batch)).toEqual([batch]);
  });

  test("brackets and escaped quotes inside strings do not count", () => {
    const tricky = '{"a":"}]{[","b":"\\"}","c":"\\\\"}';
    expect(JSON.parse(tricky)).toEqual({ a: "}]{[", b: '"}', c: "\\" });
    const s = new FrameSplitter();
    expect(s.push(`${tricky}${REQ}`)).toEqual([tricky, REQ]);
  });

  test("garbage becomes its own frame and does not swallow a following valid frame", () => {
    const s = new FrameSplitter();
    expect(s.push(`hello world\n${REQ}`)).toEqual(["hello world", REQ]);
    expect(s.push(`junk${REQ}`)).toEqual(["junk", REQ]);
    expect(s.push("}}]\n")).toEqual(["}}]"]);
  });

  test("garbage split across writes is one frame", () => {
    const s = new FrameSplitter();
    expect(s.push("abc")).toEqual([]);
    expect(s.push("def\n")).toEqual(["abcdef"]);
  });

  test("end() hands back an unfinished frame so it can be answered", () => {
    const s = new FrameSplitter();
    expect(s.push('{"jsonrpc":')).toEqual([]);
    expect(s.end()).toEqual(['{"jsonrpc":']);
    expect(s.end()).toEqual([]);
    const g = new FrameSplitter();
    expect(g.push("nonsense")).toEqual([]);
    expect(g.end()).toEqual(["nonsense"]);
    expect(new FrameSplitter().end()).toEqual([]);
  });

  test("a frame over the limit overflows; frames before it are kept; later input is ignored", () => {
    const s = new FrameSplitter(64);
    const big = `{"x":"${"a".repeat(100)}"}`;
    expect(s.push(`${REQ}${big}`)).toEqual([REQ]);
    expect(s.overflowed).toBe(true);
    expect(s.push(REQ)).toEqual([]);
    expect(s.end()).toEqual([]);
  });

  test("a frame that grows past the limit over many writes overflows without buffering it all", () => {
    const s = new FrameSplitter(1000);
    expect(s.push('{"x":"')).toEqual([]);
    for (let i = 0; i < 9; i++) expect(s.push("a".repeat(100))).toEqual([]);
    expect(s.overflowed).toBe(false);
    s.push("a".repeat(100));
    expect(s.overflowed).toBe(true);
  });

  test("a frame of exactly the limit passes", () => {
    const frame = `{"x":"${"a".repeat(50)}"}`;
    const s = new FrameSplitter(frame.length);
    expect(s.push(frame.slice(0, 10))).toEqual([]);
    expect(s.push(frame.slice(10))).toEqual([frame]);
    expect(s.overflowed).toBe(false);
  });

  test("oversized reply is jsonrpsee's", () => {
    expect(oversizedReply(10485760)).toBe(
      '{"jsonrpc":"2.0","error":{"code":-32007,"message":"Request is too big","data":"Exceeded max limit of 10485760"},"id":null}',
    );
  });
});
