// Clients and expected-value builders shared by the end-to-end tests against the compiled daemon.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { Conn, type Reply, TIMEOUT } from "../helpers/conn.ts";
import type { Zinit } from "../helpers/zinit.ts";

/** One request on a fresh connection; resolves to the whole reply object. */
export async function ask(socket: string, method: string, params?: unknown): Promise<Reply> {
  const c = new Conn(socket);
  try {
    return await c.call(1, method, params);
  } finally {
    c.close();
  }
}

/** Writes `input` on a fresh connection and returns everything received until the server closes. */
export function askRaw(
  socket: string,
  input: string | Uint8Array,
  halfClose = false,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect(socket, () => {
      if (halfClose) sock.end(input);
      else sock.write(input);
    });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no EOF after ${JSON.stringify(String(input)).slice(0, 200)}`));
    }, TIMEOUT);
    sock.on("data", (d: Buffer) => chunks.push(d));
    sock.on("error", () => {});
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
  });
}

/** Namespace pid (as the daemon reports it) → host pid, for every process in the daemon's namespace. */
export function nsPids(z: Zinit): Map<number, { host: number; comm: string }> {
  const out = new Map<number, { host: number; comm: string }>();
  for (const p of z.namespaceProcs()) {
    try {
      const status = readFileSync(`/proc/${p.pid}/status`, "utf8");
      const ns = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/);
      if (ns) out.set(Number(ns[ns.length - 1]), { host: p.pid, comm: p.comm });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export const readText = (file: string) => (existsSync(file) ? readFileSync(file, "utf8") : "");

export const listDir = (dir: string) => readdirSync(dir).sort();

/** A TCP port nobody listens on right now. */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/**
 * Waits until the daemon's collected stdout+stderr matches `re`: `exited` can resolve before the
 * last bytes of its pipes have been read.
 */
export async function outputMatches(z: Zinit, re: RegExp): Promise<void> {
  await z.waitFor(() => re.test(z.output), TIMEOUT, `daemon output matching ${re}`);
}
