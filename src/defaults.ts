// Defaults shared by the daemon (`zinit init`) and the client verbs. Kept free of heavy imports:
// every CLI call loads this module.

import { statSync } from "node:fs";
import type { ApiLimits } from "./api/limits.ts";

/** Upstream's `init -c` default (which upstream ≥0.2.15 ignores; we honour `-c`). */
export const DEFAULT_CONFIG_DIR = "/etc/zinit";
/** Lines kept in the log ring (`init -b`). */
export const DEFAULT_BUFFER = 2000;
/** Bytes the log ring may hold (`init --buffer-bytes`), and the range accepted. */
export const DEFAULT_BUFFER_BYTES = 4 * 1024 * 1024;
export const MIN_BUFFER_BYTES = 1024 * 1024;
export const MAX_BUFFER_BYTES = 1024 * 1024 * 1024;

/** How `log: stdout` lines are written to zinit's stdout/stderr (`init --stdout-format`). */
export type StdoutFormat = "raw" | "prefix" | "json";
export const STDOUT_FORMATS: readonly StdoutFormat[] = ["raw", "prefix", "json"];
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
  /** Byte budget of the log ring (`init --buffer-bytes`). */
  bufferBytes: number;
  /** `init --log-dir`: every ring-logged service also writes DIR/<name>.log; null: none. */
  logDir: string | null;
  /** Rotation of those files (`--log-max-size`, `--log-keep`). */
  logMaxBytes: number;
  logKeep: number;
  stdoutFormat: StdoutFormat;
  /** What one client (or all together) may make the API hold; unset ones keep their defaults. */
  limits: Partial<ApiLimits>;
  /** Browser origins allowed to call the HTTP API (`--cors-origin`); none by default. */
  corsOrigins: string[];
  /** Host header names accepted besides loopback and the listening address (`--allow-host`). */
  allowHosts: string[];
  /** File holding the HTTP API's bearer token (`--token-file`); else `$ZINIT_TOKEN`. */
  tokenFile: string | null;
  /** A second socket for upstream's clients (`/tmp/zinit.sock`, root with the default socket). */
  compatSocket: string | null;
}

/** Where upstream v0.2.15–v0.2.28 and their clients look when given no `-s`. */
export const UPSTREAM_SOCKET = "/tmp/zinit.sock";

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The client's socket without `-s`: the default, or upstream's `/tmp/zinit.sock` when only that
 * one exists (a daemon started by upstream's defaults).
 */
export function clientSocket(
  env: Record<string, string | undefined> = process.env,
  uid: number = process.getuid?.() ?? 0,
): string {
  const path = defaultSocket(env, uid);
  if (env.ZINIT_SOCKET || path === UPSTREAM_SOCKET || exists(path)) return path;
  return exists(UPSTREAM_SOCKET) ? UPSTREAM_SOCKET : path;
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
