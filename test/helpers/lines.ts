// Line batches for log tests, as the daemon's pipe readers produce them.

import { type LineBatch, LineCutter } from "../../src/log/lines.ts";

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
