// Line batches for log tests, as the daemon's pipe readers produce them.

import { type LineBatch, LineCutter } from "../../src/log/lines.ts";
import type { LogRing } from "../../src/log/ring.ts";

const encoder = new TextEncoder();

/** Every batch one read gives (two when it completes a waiting line and brings more). */
export function batches(cutter: LineCutter, bytes: Uint8Array | string): LineBatch[] {
  const out: LineBatch[] = [];
  cutter.push(typeof bytes === "string" ? encoder.encode(bytes) : bytes, (b) => out.push(b));
  return out;
}

/** The one batch of complete lines in `bytes`, read by a fresh cutter. */
export function batchOf(bytes: Uint8Array | string, maxLine?: number): LineBatch {
  const got = batches(new LineCutter(maxLine), bytes);
  if (got.length !== 1) throw new Error(`expected one batch, got ${got.length}`);
  return got[0] as LineBatch;
}

/** Puts one line in upstream's ring form (`[+] web: text`, `[-] web: text`) into the ring. */
export function pushLine(ring: LogRing, line: string): void {
  const m = /^\[([+-])\] (.*?): (.*)$/s.exec(line);
  if (!m) throw new Error(`not a ring line: ${line}`);
  ring.pushText(m[2] as string, m[1] === "+" ? "stdout" : "stderr", m[3] as string);
}
