// Shared plumbing for the sys tests: one reaper whose exits can be awaited, and pipe readers.
// Exits are recorded even when nobody waits yet, because a fast child may exit before the await.

import type { ExitStatus } from "../../src/core/types.ts";
import { close } from "../../src/sys/pipe.ts";
import { startReaper } from "../../src/sys/reaper.ts";
import { type SpawnOptions, spawn } from "../../src/sys/spawn.ts";
import { openPipe } from "../helpers/pipe.ts";

const exits = new Map<number, ExitStatus>();
const waiters = new Map<number, (status: ExitStatus) => void>();

export function installReaper(): void {
  startReaper((reapedNow) => {
    for (const { pid, status } of reapedNow) {
      const waiter = waiters.get(pid);
      if (waiter) {
        waiters.delete(pid);
        waiter(status);
      } else exits.set(pid, status);
    }
  });
}

export function reaped(pid: number): boolean {
  return exits.has(pid);
}

export function waitExit(pid: number, timeoutMs = 10_000): Promise<ExitStatus> {
  const done = exits.get(pid);
  if (done) {
    exits.delete(pid);
    return Promise.resolve(done);
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiters.delete(pid);
      reject(new Error(`pid ${pid} not reaped within ${timeoutMs} ms`));
    }, timeoutMs);
    waiters.set(pid, (status) => {
      clearTimeout(timer);
      resolve(status);
    });
  });
}

/** Reads `fd` to EOF and closes it (Bun's stream does not close it). */
export async function readAll(fd: number): Promise<string> {
  try {
    return await new Response(Bun.file(fd).stream()).text();
  } finally {
    close(fd);
  }
}

export const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Options for our spawn: the given argv, only PATH in the environment, cwd /, output dropped. */
export function spawnOptions(argv: string[], extra: Partial<SpawnOptions> = {}): SpawnOptions {
  return { argv, env: { PATH }, cwd: "/", stdout: "null", stderr: "null", ...extra };
}

/** Runs `script` under sh with stdout and stderr on one pipe; resolves with output and status. */
export async function runSh(
  script: string,
  opts: Partial<Omit<SpawnOptions, "argv">> = {},
): Promise<{ pid: number; out: string; status: ExitStatus }> {
  const p = openPipe();
  const result = spawn(
    spawnOptions(["sh", "-c", script], { stdout: p.write, stderr: p.write, ...opts }),
  );
  close(p.write);
  if (!result.ok) {
    close(p.read);
    throw new Error(`spawn failed: ${result.error}`);
  }
  const [out, status] = await Promise.all([readAll(p.read), waitExit(result.pid)]);
  return { pid: result.pid, out, status };
}

/** Waits for a condition of the outside world (e.g. /proc) that raises no event we can hook. */
export async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** First line written to `fd`, leaving the stream open; for "ready" handshakes with children. */
export async function firstLine(fd: number): Promise<{ line: string; rest: Promise<string> }> {
  const reader = Bun.file(fd).stream().getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (value) text += decoder.decode(value, { stream: true });
    const nl = text.indexOf("\n");
    if (nl >= 0 || done) {
      const line = nl >= 0 ? text.slice(0, nl) : text;
      const head = nl >= 0 ? text.slice(nl + 1) : "";
      const rest = (async () => {
        let more = head;
        try {
          for (;;) {
            const next = await reader.read();
            if (next.value) more += decoder.decode(next.value, { stream: true });
            if (next.done) return more;
          }
        } finally {
          close(fd);
        }
      })();
      return { line, rest };
    }
  }
}
