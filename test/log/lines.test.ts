import { afterAll, describe, expect, test } from "bun:test";
import { type LineBatch, LineCutter, lineText, textBatch } from "../../src/log/lines.ts";
import { formatLines, loadNative, nativeStatus, setNative } from "../../src/log/native.ts";
import { batches, batchOf } from "../helpers/lines.ts";
import { prng } from "../helpers/prng.ts";

const NATIVE = loadNative();
afterAll(() => setNative(NATIVE));

/** Bytes that exercise every rule: newlines, CRs, multi-byte and broken UTF-8, long runs. */
function randomOutput(rand: () => number, size: number): Uint8Array {
  const pieces = [
    [0x0a],
    [0x0d, 0x0a],
    [0x0d],
    [0x61],
    [0x62, 0x63],
    [0xc3, 0xa9], // é
    [0xe2, 0x82, 0xac], // €
    [0xf0, 0x9f, 0x98, 0x80], // 😀
    [0xff],
    [0x80],
    [0xe2, 0x82], // truncated
  ];
  const out: number[] = [];
  while (out.length < size) {
    if (rand() < 0.05) {
      const run = Math.floor(rand() * 40);
      for (let i = 0; i < run; i++) out.push(0x78);
      continue;
    }
    out.push(...(pieces[Math.floor(rand() * pieces.length)] as number[]));
  }
  return Uint8Array.from(out);
}

/** The rules applied to the whole output at once, byte by byte: what the cutter must match. */
function reference(all: Uint8Array, max: number): string[] {
  const decoder = new TextDecoder();
  const cont = (b: number | undefined) => b !== undefined && (b & 0xc0) === 0x80;
  const cut = (s: number) => {
    for (let k = 0; k < 4; k++) if (!cont(all[s + max - k])) return s + max - k;
    return s + max;
  };
  const lines: string[] = [];
  let s = 0;
  while (s < all.length) {
    let nl = all.indexOf(10, s);
    if (nl === -1) nl = all.length;
    let te = nl;
    if (te > s && all[te - 1] === 13) te--;
    while (te - s > max) {
      const c = cut(s);
      lines.push(decoder.decode(all.subarray(s, c)));
      s = c;
    }
    lines.push(decoder.decode(all.subarray(s, te)));
    s = nl + 1;
  }
  return lines;
}

/** Feeds `all` to a cutter in random chunks; the decoded lines of every batch. */
function cutInChunks(all: Uint8Array, max: number, rand: () => number): string[] {
  const cutter = new LineCutter(max);
  const lines: string[] = [];
  const take = (batch: LineBatch | null) => {
    if (!batch) return;
    for (let k = 0; k < batch.ends.length; k++) lines.push(lineText(batch.bytes, batch.ends, k));
  };
  for (let at = 0; at < all.length; ) {
    const n = Math.max(1, Math.floor(rand() * rand() * 300));
    cutter.push(all.subarray(at, at + n), take);
    at += n;
  }
  take(cutter.end());
  return lines;
}

describe("the line cutter", () => {
  test("the native fast paths load here", () => {
    expect(nativeStatus()).toBe("native");
  });

  for (const mode of ["native", "javascript"] as const) {
    test(`${mode}: random output in random chunks cuts exactly like the whole-stream rules`, () => {
      setNative(mode === "native");
      for (let seed = 1; seed <= 300; seed++) {
        const rand = prng(seed);
        const all = randomOutput(rand, 50 + Math.floor(rand() * 3000));
        const max = 4 + Math.floor(rand() * 40);
        const got = cutInChunks(all, max, rand);
        const want = reference(all, max);
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          throw new Error(`seed ${seed} (max ${max}) differs:\n${got}\n${want}`);
        }
      }
    });
  }

  test("native and JavaScript give byte-identical batches", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rand = prng(seed * 7);
      const all = randomOutput(rand, 4000);
      const cutAll = (native: boolean) => {
        setNative(native);
        const cutter = new LineCutter(16);
        const got = [
          ...batches(cutter, all.subarray(0, 1500)),
          ...batches(cutter, all.subarray(1500)),
        ];
        const last = cutter.end();
        if (last) got.push(last);
        return got.map((b) => [Buffer.from(b.bytes).toString("hex"), [...b.ends]]);
      };
      expect(cutAll(true)).toEqual(cutAll(false));
    }
  });

  test("a line of exactly the limit, and one more byte that is the \\r of \\r\\n, stay whole", () => {
    setNative(NATIVE);
    const cutter = new LineCutter(8);
    const text = (bs: (LineBatch | null)[]) =>
      bs.flatMap((b) => (b ? [...b.ends].map((_, k) => lineText(b.bytes, b.ends, k)) : []));
    expect(text(batches(cutter, "12345678\r"))).toEqual([]);
    expect(text(batches(cutter, "\nabcdefghi"))).toEqual(["12345678"]);
    expect(text(batches(cutter, "j"))).toEqual(["abcdefgh"]);
    expect(text([cutter.end()])).toEqual(["ij"]);
  });

  test("a read is kept as it came, unless it is mostly a line still to come", () => {
    const lines = new TextEncoder().encode(`${"line\n".repeat(100)}partial`);
    const [kept] = batches(new LineCutter(), lines);
    expect(kept?.bytes.buffer).toBe(lines.buffer);
    const mostlyTail = new TextEncoder().encode(`short\n${"A".repeat(60_000)}`);
    const cutter = new LineCutter();
    const [copied] = batches(cutter, mostlyTail);
    expect(copied?.bytes.buffer).not.toBe(mostlyTail.buffer);
    expect(copied?.bytes.byteLength).toBe(6);
    // The waiting line, completed by the next read, is a batch of its own before the rest.
    const next = batches(cutter, "B\nafter\n");
    expect(next.map((b) => [...b.ends].map((_, k) => lineText(b.bytes, b.ends, k)))).toEqual([
      [`${"A".repeat(60_000)}B`],
      ["after"],
    ]);
  });

  test("textBatch: one message is one line, a newline in it ends one", () => {
    const one = textBatch("hello");
    expect([...(one?.ends ?? [])]).toEqual([6]);
    const two = textBatch("a\nb");
    expect(two && [0, 1].map((k) => lineText(two.bytes, two.ends, k))).toEqual(["a", "b"]);
  });
});

describe("formatLines", () => {
  for (const mode of ["native", "javascript"] as const) {
    test(`${mode}: prefix + text + \\n per line, \\r\\n dropped, and it stops where space ends`, () => {
      setNative(mode === "native");
      const batch = batchOf("ab\r\ncdefgh\n\nxy\r\n", 4);
      const prefix = new TextEncoder().encode("T ");
      const out = new Uint8Array(64);
      const n = formatLines(batch!.bytes, batch!.ends, 0, batch!.ends.length, prefix, out, 3, 64);
      expect(new TextDecoder().decode(out.subarray(3, 3 + n))).toBe(
        "T ab\nT cdef\nT gh\nT \nT xy\n",
      );
      // Only two lines fit in 14 bytes: the answer says so (-1 - 2).
      expect(formatLines(batch!.bytes, batch!.ends, 0, 5, prefix, out, 0, 14)).toBe(-3);
      expect(formatLines(batch!.bytes, batch!.ends, 1, 3, prefix, out, 0, 64)).toBe(12);
    });
  }
});
