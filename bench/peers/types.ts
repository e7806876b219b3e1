// The one interface every supervisor adapter implements. Workloads only talk to this, so each
// measurement is taken the same way for every peer.

import type { LogCheck } from "../lib/logs.ts";

export interface Command {
  argv: string[];
  env?: Record<string, string>;
}

export interface ServiceSpec {
  name: string;
  /** Absolute program path first; run directly (runit/s6 wrap it in `exec` from a run script). */
  argv: string[];
  /** Start only after this service runs (zinit `after`); only peers with `dependencies` honour it. */
  after?: string;
  /**
   * The service's stdout is the measured payload: route it to the peer's file logger, rotating
   * at 10 MB and keeping enough files for all of it.
   */
  logged?: boolean;
}

export type PeerStatus = { ok: true; version: string } | { ok: false; reason: string };

/** How the bench learns what a supervisor did with a service's output. */
export interface LogReader {
  /** Resolves once the reader is attached (before the service is told to write). */
  attach(): Promise<void>;
  /** Bytes the sink holds so far: progress, to tell a slow sink from a stalled one. */
  bytes(): number | Promise<number>;
  /** Whether the sink holds the payload's last line. */
  holdsLast(): boolean | Promise<boolean>;
  /** Checks every numbered line once the payload has arrived (or stopped arriving). */
  verify(): Promise<LogCheck>;
  close(): void;
}

export interface Peer {
  name: string;
  detect(): PeerStatus;
  /** Most services one supervisor instance can run (tini runs exactly one child). */
  maxServices: number;
  /** Whether it restarts a service that died. */
  supervises: boolean;
  /** Whether `ServiceSpec.after` is honoured. */
  dependencies: boolean;
  /** What the peer offers to shorten its restart delay (shown in the report). */
  restartDelayNote: string;
  /** Writes the configuration for `services` into the empty directory `dir`. */
  write(dir: string, services: ServiceSpec[]): void;
  /** The supervisor in the foreground, configured from `dir`. */
  command(dir: string): Command;
  /** What stops the supervisor and every service it runs. */
  stopSignal: NodeJS.Signals;
  /** One status query through the peer's CLI. */
  statusCommand?(dir: string, name: string): Command;
  /** Where the output of the `logged` service `name` ends up; `expected` numbered lines. */
  logReader?(dir: string, name: string, expected: number, width: number): LogReader;
  /** An in-memory log (zinit's ring) that holds the output of a service that is not `logged`. */
  ringReader?(dir: string, name: string, expected: number, width: number): LogReader;
}
