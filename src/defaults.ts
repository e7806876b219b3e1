// Defaults shared by the daemon (`zinit init`) and the client verbs. Kept free of heavy imports:
// every CLI call loads this module.

import { statSync } from "node:fs";

/** Upstream's `init -c` default (which upstream ≥0.2.15 ignores; we honour `-c`). */
export const DEFAULT_CONFIG_DIR = "/etc/zinit";
/** Lines kept in the log ring (`init -b`). */
export const DEFAULT_BUFFER = 2000;
/** Where `zinit proxy` asks the daemon to serve HTTP/WebSocket JSON-RPC. */
export const DEFAULT_PROXY_ADDRESS = "127.0.0.1:8080";

export interface InitOptions {
  configDir: string;
  socket: string;
  buffer: number;
  container: boolean;
  debug: boolean;
  /** Start the HTTP/WebSocket API on this address at boot (`init --http`); null: only on request. */
  http: string | null;
  /** Permissions of the socket file (`init --socket-mode`, default 0600). */
  socketMode: number;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * `$ZINIT_SOCKET`; else `/var/run/zinit.sock` for root (where ZOS, the docs and zinit ≤0.2.14
 * look); else the per-user runtime directory, falling back to `/tmp/zinit.sock` (upstream's
 * current default) so an unprivileged daemon and client still meet.
 */
export function defaultSocket(
  env: Record<string, string | undefined> = process.env,
  uid: number = process.getuid?.() ?? 0,
): string {
  const fromEnv = env.ZINIT_SOCKET;
  if (fromEnv) return fromEnv;
  if (uid === 0) return "/var/run/zinit.sock";
  const runtimeDir = env.XDG_RUNTIME_DIR;
  if (runtimeDir && isDirectory(runtimeDir)) return `${runtimeDir.replace(/\/+$/, "")}/zinit.sock`;
  return "/tmp/zinit.sock";
}
