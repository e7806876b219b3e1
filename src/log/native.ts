// The two loops every logged byte goes through: finding line ends, and copying lines into a log
// file with their timestamp prefix. Done per line in JavaScript they cost ~100 ns a line (a native
// call or a subarray per line), which caps a 64-byte-line flood far below what a pipe delivers; in
// C over libc's memchr/memcpy they run at several GB/s. The C is compiled at start-up by bun:ffi's
// TinyCC (src/sys/tcc.ts), with memchr/memcpy handed over as pointers. Where that fails, the same
// algorithms run in JavaScript: same results, slower.

import { FFIType, type Library } from "bun:ffi";
import { compileC, libcPointers } from "../sys/tcc.ts";

const SOURCE = `
typedef void *(*memchr_fn)(const void *, int, unsigned long);
typedef void *(*memcpy_fn)(void *, const void *, unsigned long);
static memchr_fn z_memchr;
static memcpy_fn z_memcpy;

void zl_init(void *chr, void *cpy) { z_memchr = (memchr_fn)chr; z_memcpy = (memcpy_fn)cpy; }

static int z_cut(const unsigned char *src, int s, int max) {
  int c = s + max;
  for (int k = 0; k < 4; k++) if ((src[c - k] & 0xC0) != 0x80) return c - k;
  return c;
}

int zl_scan(const unsigned char *src, int len, int max, unsigned int *ends) {
  int n = 0, s = 0;
  for (;;) {
    const unsigned char *q = z_memchr(src + s, 10, (unsigned long)(len - s));
    if (!q) break;
    int nl = (int)(q - src);
    int te = nl;
    if (te > s && src[te - 1] == 13) te--;
    while (te - s > max) { int c = z_cut(src, s, max); ends[n++] = (unsigned int)c; s = c; }
    ends[n++] = (unsigned int)(nl + 1);
    s = nl + 1;
  }
  while (len - s > max + 1) { int c = z_cut(src, s, max); ends[n++] = (unsigned int)c; s = c; }
  return n;
}

int zl_format(const unsigned char *src, const unsigned int *ends, int first, int last,
              const unsigned char *prefix, int plen, unsigned char *dst, int at, int cap) {
  int pos = at;
  for (int i = first; i < last; i++) {
    int s = i == 0 ? 0 : (int)ends[i - 1], e = (int)ends[i], te = e;
    if (te > s && src[te - 1] == 10) { te--; if (te > s && src[te - 1] == 13) te--; }
    if (pos + plen + (te - s) + 1 > cap) return -1 - (i - first);
    z_memcpy(dst + pos, prefix, (unsigned long)plen);
    pos += plen;
    z_memcpy(dst + pos, src + s, (unsigned long)(te - s));
    pos += te - s;
    dst[pos++] = 10;
  }
  return pos - at;
}
`;

const SYMBOLS = {
  zl_init: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.void },
  zl_scan: {
    args: [FFIType.ptr, FFIType.i32, FFIType.i32, FFIType.ptr],
    returns: FFIType.i32,
  },
  zl_format: {
    args: [
      FFIType.ptr,
      FFIType.ptr,
      FFIType.i32,
      FFIType.i32,
      FFIType.ptr,
      FFIType.i32,
      FFIType.ptr,
      FFIType.i32,
      FFIType.i32,
    ],
    returns: FFIType.i32,
  },
} as const;

type Compiled = Library<typeof SYMBOLS>;

/** The start of the next piece when a line is cut at `s + max`: never inside a UTF-8 sequence. */
function cutAt(src: Uint8Array, s: number, max: number): number {
  const c = s + max;
  for (let k = 0; k < 4; k++) if (((src[c - k] as number) & 0xc0) !== 0x80) return c - k;
  return c;
}

/**
 * Splits `src` into lines: `ends[k]` is the offset just past line k (past its `\n`, or where a
 * piece was cut). Returns the count. A line whose text (without `\n` or `\r\n`) is longer than
 * `max` bytes is cut into pieces of at most `max` bytes, never inside a UTF-8 sequence; the
 * unterminated tail is cut the same way while longer than `max + 1` (the extra byte may be the
 * `\r` of a coming `\r\n`). What follows the last end is the unterminated tail. `ends` must hold
 * `src.length` entries.
 */
function scanJs(src: Uint8Array, len: number, max: number, ends: Uint32Array): number {
  let n = 0;
  let s = 0;
  for (let nl = src.indexOf(10, s); nl !== -1 && nl < len; nl = src.indexOf(10, s)) {
    let te = nl;
    if (te > s && src[te - 1] === 13) te--;
    while (te - s > max) {
      const c = cutAt(src, s, max);
      ends[n++] = c;
      s = c;
    }
    ends[n++] = nl + 1;
    s = nl + 1;
  }
  while (len - s > max + 1) {
    const c = cutAt(src, s, max);
    ends[n++] = c;
    s = c;
  }
  return n;
}

/**
 * Writes lines `first` to `last - 1` of `src` (split by `ends`) into `dst` from `at`, each as
 * `prefix`, its text without `\n`/`\r\n`, and `\n`. Returns the bytes written, or `-1 - k` when
 * only the first k lines fit before `cap`.
 */
function formatJs(
  src: Uint8Array,
  ends: Uint32Array,
  first: number,
  last: number,
  prefix: Uint8Array,
  dst: Uint8Array,
  at: number,
  cap: number,
): number {
  let pos = at;
  for (let i = first; i < last; i++) {
    const s = i === 0 ? 0 : (ends[i - 1] as number);
    let te = ends[i] as number;
    if (te > s && src[te - 1] === 10) {
      te--;
      if (te > s && src[te - 1] === 13) te--;
    }
    if (pos + prefix.length + (te - s) + 1 > cap) return -1 - (i - first);
    dst.set(prefix, pos);
    pos += prefix.length;
    dst.set(src.subarray(s, te), pos);
    pos += te - s;
    dst[pos++] = 10;
  }
  return pos - at;
}

let compiled: Compiled | null = null;
let enabled = false;
let status = "not loaded";

/** Compiles the C fast paths; false (with `nativeStatus()` saying why) keeps the JS ones. */
export function loadNative(): boolean {
  if (compiled) {
    enabled = true;
    return true;
  }
  const pointers = libcPointers(["memchr", "memcpy"]);
  if (typeof pointers === "string") {
    status = pointers;
    return false;
  }
  const lib = compileC("the line scanner", "lines.c", SOURCE, SYMBOLS);
  if (typeof lib === "string") {
    status = lib;
    return false;
  }
  lib.symbols.zl_init(pointers.memchr, pointers.memcpy);
  compiled = lib;
  enabled = true;
  status = "native";
  return true;
}

/** Turns the C paths off (tests compare both) or back on. */
export function setNative(on: boolean): void {
  enabled = on && compiled !== null;
}

/** "native", or why the JavaScript paths are in use. */
export function nativeStatus(): string {
  return enabled ? "native" : status === "native" ? "disabled" : status;
}

export function scanLines(src: Uint8Array, len: number, max: number, ends: Uint32Array): number {
  if (enabled && compiled && len > 0) return compiled.symbols.zl_scan(src, len, max, ends);
  return scanJs(src, len, max, ends);
}

export function formatLines(
  src: Uint8Array,
  ends: Uint32Array,
  first: number,
  last: number,
  prefix: Uint8Array,
  dst: Uint8Array,
  at: number,
  cap: number,
): number {
  if (enabled && compiled && last > first && prefix.length > 0) {
    return compiled.symbols.zl_format(src, ends, first, last, prefix, prefix.length, dst, at, cap);
  }
  return formatJs(src, ends, first, last, prefix, dst, at, cap);
}
