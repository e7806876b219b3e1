// Making the Bun runtime safe to be PID 1 under a pids limit (a docker --pids-limit, a fork bomb
// in a service): once no new thread can be created, the runtime aborts the moment it wants one.
// It wants them lazily: JSC's JIT workers and "warm-up" thread exit after 10 s idle and come back
// on the next compile or heap growth, its GC helpers start at the first collection, and Bun's I/O
// pool starts with the first pool task, which a pipe reaching EOF queues. So the daemon
//   1. re-executes itself once, before any of that, with the JSC options that keep those threads
//      from ever being created (JSC reads them only at start-up, from the environment); the pid
//      stays the same, so this works as PID 1; and
//   2. starts the I/O pool at once, whose threads never exit.
// After that, the threads it has are all it will ever need.

import { ptr } from "bun:ffi";
import { parseSignal } from "../core/signals.ts";
import { errno, libc, osError } from "./libc.ts";
import { blockSignals } from "./process.ts";
import { EARLY_SIGNALS } from "./startup.ts";

const earlyNumbers = EARLY_SIGNALS.map((name) => parseSignal(name) ?? 0);

/** The JSC options, as the environment variables Bun reads them from. */
export const JSC_OPTIONS: Readonly<Record<string, string>> = {
  BUN_JSC_useConcurrentJIT: "0", // JIT on the main thread: no JITWorker threads
  BUN_JSC_useWarmUpMarkedBlocks: "0", // no JSCWarmUp thread on heap growth
  BUN_JSC_useConcurrentGC: "0", // no collector thread started on demand
  BUN_JSC_numberOfGCMarkers: "1", // marking on the main thread: no HeapHelper threads
};

/** Whether this process already runs with JSC_OPTIONS. */
export function jscOptionsApplied(env: Record<string, string | undefined> = process.env): boolean {
  return Object.entries(JSC_OPTIONS).every(([key, value]) => env[key] === value);
}

/**
 * Replaces this process with itself, same pid and arguments, with JSC_OPTIONS and `carry` in its
 * environment. Only in the compiled binary (whose entry lives in Bun's `/$bunfs`); returns why
 * not if it cannot, and never returns if it does. Block the stop signals first (see startup.ts)
 * and unblock them after.
 */
export function reexecWithJscOptions(carry: Record<string, string>): string {
  const entry = process.argv[1] ?? "";
  if (!entry.startsWith("/$bunfs/")) return "not the compiled binary";
  const keep: Buffer[] = [];
  const cArray = (strings: string[]) => {
    const array = new BigUint64Array(strings.length + 1);
    strings.forEach((text, i) => {
      const buf = Buffer.from(`${text}\0`, "utf8");
      keep.push(buf);
      array[i] = BigInt(ptr(buf));
    });
    return array;
  };
  const path = Buffer.from(`${process.execPath}\0`, "utf8");
  const argv = cArray([process.execPath, ...process.argv.slice(2)]);
  const env = { ...process.env, ...JSC_OPTIONS, ...carry } as Record<string, string>;
  const envp = cArray(Object.entries(env).map(([k, v]) => `${k}=${v}`));
  libc.execve(path, argv, envp);
  return `execve(${process.execPath}): ${osError(errno())}`;
}

/** Blocks the stop signals in this thread: across an exec they stay pending, not discarded. */
export function blockEarlySignals(): void {
  blockSignals(earlyNumbers, true);
}

/** Lets the stop signals in again: those sent meanwhile are delivered to the catchers now. */
export function unblockEarlySignals(): void {
  blockSignals(earlyNumbers, false);
}

/** Takes JSC_OPTIONS out of our environment, so services do not inherit them. */
export function forgetJscOptions(): void {
  for (const key of Object.keys(JSC_OPTIONS)) delete process.env[key];
}

/**
 * Starts Bun's I/O thread pool now (it keeps its threads for good): several stat calls at once,
 * through the one API that runs on it.
 */
export async function startIoPool(): Promise<void> {
  const { lstat } = await import("node:fs/promises");
  await Promise.all([lstat("/"), lstat("/"), lstat("/"), lstat("/")]);
}
