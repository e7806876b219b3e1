// A fake GitHub release directory on 127.0.0.1 for install.sh, and a way to run install.sh the
// way users do (`curl … | sh`).

import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { collect, type RunResult } from "../helpers/run.ts";

export const REPO = resolve(import.meta.dir, "../..");
export const INSTALL_SH = join(REPO, "install.sh");

/** How the server answers one file. */
export type Asset = Uint8Array | string | { cutAfter: Uint8Array };

export function sha256(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** `sha256sum` output for the given files. */
export function sums(files: Record<string, Uint8Array | string>): string {
  return Object.entries(files)
    .map(([name, data]) => `${sha256(data)}  ${name}\n`)
    .join("");
}

interface Conn {
  head: string;
  /** Bytes still to send; the connection closes once they are out. */
  pending: Uint8Array | null;
}

/**
 * A raw HTTP/1.1 server, because a dropped download needs a Content-Length the body never
 * reaches, and Bun.serve always makes the two agree.
 */
export class ReleaseServer {
  readonly requests: string[] = [];
  private readonly listener: Bun.TCPSocketListener<Conn>;

  constructor(readonly assets: Record<string, Asset>) {
    const flush = (s: Bun.Socket<Conn>) => {
      const data = s.data.pending;
      if (!data) return;
      const n = s.write(data);
      s.data.pending = n < data.length ? data.subarray(n) : null;
      if (!s.data.pending) s.end();
    };
    this.listener = Bun.listen<Conn>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open: (s) => {
          s.data = { head: "", pending: null };
        },
        data: (s, chunk) => {
          s.data.head += chunk.toString("latin1");
          if (s.data.pending || !s.data.head.includes("\r\n\r\n")) return;
          const path = s.data.head.split(" ")[1] ?? "";
          s.data.pending = this.respond(path.replace(/^\/release\//, ""));
          flush(s);
        },
        drain: flush,
      },
    });
  }

  private respond(name: string): Uint8Array {
    this.requests.push(name);
    const asset = this.assets[name];
    const enc = new TextEncoder();
    const reply = (status: string, length: number, body: Uint8Array) => {
      const head = enc.encode(
        `HTTP/1.1 ${status}\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`,
      );
      const out = new Uint8Array(head.length + body.length);
      out.set(head);
      out.set(body, head.length);
      return out;
    };
    if (asset === undefined) return reply("404 Not Found", 9, enc.encode("Not Found"));
    if (typeof asset === "string")
      return reply("200 OK", enc.encode(asset).length, enc.encode(asset));
    if (asset instanceof Uint8Array) return reply("200 OK", asset.length, asset);
    // Half the body, then the connection closes: what a dropped download looks like.
    return reply(
      "200 OK",
      asset.cutAfter.length,
      asset.cutAfter.subarray(0, asset.cutAfter.length >> 1),
    );
  }

  get url(): string {
    return `http://127.0.0.1:${this.listener.port}/release`;
  }

  stop(): void {
    this.listener.stop(true);
  }
}

/** A scratch HOME and PREFIX for one installer run. */
export class Sandbox {
  readonly dir = mkdtempSync(join(tmpdir(), "zinit-ship-"));
  readonly prefix = join(this.dir, "prefix");
  readonly bin = join(this.prefix, "bin");
  readonly target = join(this.bin, "zinit");

  /** Files in the bin directory: a failed install must leave no staging file behind. */
  binEntries(): string[] {
    return existsSync(this.bin) ? readdirSync(this.bin).sort() : [];
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Pipes install.sh into `shell` on stdin, like `curl -fsSL …/install.sh | sh -s -- args`. */
export function runInstaller(
  shell: "sh" | "bash",
  env: Record<string, string>,
  args: string[] = [],
): Promise<RunResult> {
  const proc = Bun.spawn([shell, "-s", "--", ...args], {
    stdin: Bun.file(INSTALL_SH),
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", ZINIT_LIBC: "glibc", ...env },
  });
  return collect(proc);
}
