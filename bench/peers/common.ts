// Helpers shared by the adapters: run-script directories (runit, s6) and tool discovery.

import { chmodSync, existsSync, mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ServiceSpec } from "./types.ts";

/** Absolute path of `program` on PATH, or null. */
export function which(program: string): string | null {
  for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(":")) {
    const path = join(dir, program);
    if (dir && existsSync(path)) return path;
  }
  return null;
}

/** First line of a command's output, or null if it cannot run. */
export function probe(argv: string[], env?: Record<string, string>): string | null {
  try {
    const res = Bun.spawnSync(argv, { env: { ...process.env, ...env }, stdin: "ignore" });
    const text = `${res.stdout.toString()}\n${res.stderr.toString()}`.trim();
    return text.split("\n")[0]?.trim() || null;
  } catch {
    return null;
  }
}

export function debianVersion(pkg: string): string | null {
  // `dpkg-query -W pkg` prints "pkg<TAB>version".
  const out = probe(["dpkg-query", "-W", pkg]);
  const version = out?.split("\t")[1]?.trim();
  return version || null;
}

export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}

export function writeScript(path: string, body: string): void {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
}

/**
 * daemontools-style scan directory: `<scan>/<name>/run` execs the service; a logged service gets
 * `log/run` from `logRun`. The directory's mtime is put in the past because runsvdir waits a
 * second before scanning a directory modified within the current second, which no real system
 * with a long-standing service tree ever pays.
 */
export function writeScanDir(
  scan: string,
  services: ServiceSpec[],
  logRun: (name: string) => string,
): void {
  mkdirSync(scan, { recursive: true });
  for (const svc of services) {
    const dir = join(scan, svc.name);
    mkdirSync(dir);
    writeScript(join(dir, "run"), `exec ${svc.argv.map(shellQuote).join(" ")}`);
    if (svc.logged) {
      mkdirSync(join(dir, "log"));
      writeScript(join(dir, "log", "run"), logRun(svc.name));
    }
  }
  const past = new Date(Date.now() - 60_000);
  utimesSync(scan, past, past);
}
