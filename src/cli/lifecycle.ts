// start, stop and restart of one service, several, or --all (in dependency order: start in
// order, stop dependents first), and the waits scripts can use: `--wait`, `zinit wait`,
// `zinit ready`. Every wait happens in the daemon (service_wait, system_ready): no polling here.

import { isRecord } from "../values.ts";
import type { ClientInvocation, WaitFor } from "./args.ts";
import { DaemonError, type RpcClient, TransportError } from "./client.ts";
import { dependencyWaves } from "./order.ts";
import { print, printError } from "./output.ts";

/** The exit codes of every wait (README): met, timed out, a service failed or cannot get there. */
const EXIT_MET = 0;
const EXIT_TIMEOUT = 1;
const EXIT_FAILED = 2;

/** upstream's ServiceIsDown: the process vanished on its own, which is what a restart wants. */
const SERVICE_IS_DOWN = -32003;
const METHOD_NOT_FOUND = -32601;
/** After SIGKILL the daemon waits this long for the processes before it gives up on a stop. */
const KILL_GRACE_S = 5;
/** On top of that, for the reply to travel and the machine to be slow. */
const STOP_MARGIN_S = 5;
/** service_wait takes at most this many names at once (its MAX_NAMES). */
const WAIT_CHUNK = 1024;

interface WaitOutcome {
  ok: boolean;
  why: "met" | "timeout" | "failed";
  services: Record<string, { state: string; met: boolean; reason: string }>;
}

/** Time left before `--timeout` runs out: null without one. */
class Deadline {
  private readonly end: number | null;
  constructor(seconds: number | undefined) {
    this.end = seconds === undefined ? null : performance.now() + seconds * 1000;
  }
  /** Milliseconds left (at least 1), or null for no limit. */
  left(): number | null {
    return this.end === null ? null : Math.max(1, this.end - performance.now());
  }
}

// ---- one service: the sizes of stop waits ------------------------------------------------------

/**
 * How long to wait for service_stop: at least the service's `shutdown_timeout` plus the daemon's
 * SIGKILL grace and a margin, or ZINIT_TIMEOUT if that is longer (0 still waits forever). The
 * timeout comes from service_inspect, or from the file (service_get) on a daemon without it.
 */
async function stopWait(client: RpcClient, name: string, timeoutMs: number): Promise<number> {
  if (timeoutMs === 0) return 0;
  let seconds: number | null = null;
  try {
    const detail = await client.call("service_inspect", [name]);
    if (isRecord(detail) && typeof detail.shutdown_timeout === "number") {
      seconds = detail.shutdown_timeout;
    }
  } catch (err) {
    // Unknown services fail in service_stop itself, with its own message.
    if (!(err instanceof DaemonError)) throw err;
    if (err.code === METHOD_NOT_FOUND) seconds = await fileTimeout(client, name);
  }
  if (seconds === null) return timeoutMs;
  return Math.max(timeoutMs, (seconds + KILL_GRACE_S + STOP_MARGIN_S) * 1000);
}

async function fileTimeout(client: RpcClient, name: string): Promise<number | null> {
  try {
    const file = await client.call("service_get", [name]);
    const value = isRecord(file) ? file.shutdown_timeout : undefined;
    // Upstream's default when the file has none.
    return typeof value === "number" ? value : 10;
  } catch {
    return null;
  }
}

const TIMED_OUT = Symbol("timed out");

/** Settles like `promise`, or with TIMED_OUT after `ms` (never, for 0). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  if (ms <= 0) return promise;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The stop of a restart (ours answers once every process is gone). If it does not answer in
 * time, SIGKILL the service and wait for that same stop to finish.
 */
async function stopForRestart(client: RpcClient, name: string, timeoutMs: number): Promise<void> {
  const stopped = client.call("service_stop", [name], 0);
  if ((await within(stopped, timeoutMs)) !== TIMED_OUT) return;
  try {
    await client.call("service_kill", [name, "SIGKILL"]);
  } catch (err) {
    if (!(err instanceof DaemonError && err.code === SERVICE_IS_DOWN)) throw err;
  }
  if ((await within(stopped, timeoutMs)) === TIMED_OUT) {
    throw new TransportError("timeout", `service '${name}' did not stop, even after SIGKILL`);
  }
}

// ---- several services ----------------------------------------------------------------------------

/** The services named, or every one with --all, in dependency waves (one name: no questions). */
async function waves(client: RpcClient, inv: ClientInvocation): Promise<string[][]> {
  let names = inv.names ?? [];
  if (inv.all) {
    const list = await client.call("service_list");
    if (!isRecord(list)) throw new TransportError("protocol", "unexpected reply to service_list");
    names = Object.keys(list);
  }
  if (names.length <= 1) return names.length === 0 ? [] : [names];
  const unique = [...new Set(names)];
  const statuses = await Promise.all(unique.map((n) => client.call("service_status", [n])));
  const after = new Map<string, string[]>();
  unique.forEach((name, i) => {
    const s = statuses[i];
    after.set(name, isRecord(s) && isRecord(s.after) ? Object.keys(s.after) : []);
  });
  return dependencyWaves(after);
}

/** `zinit start`: in dependency order; with --wait, until running. */
export async function start(
  client: RpcClient,
  inv: ClientInvocation,
  timeoutMs: number,
): Promise<number> {
  const deadline = new Deadline(inv.timeoutS);
  const order = (await waves(client, inv)).flat();
  for (const name of order) await client.call("service_start", [name], timeoutMs);
  return finish(client, inv, order, "running", deadline);
}

/** `zinit stop`: dependents first, each wave in parallel; with --wait, confirmed stopped. */
export async function stop(
  client: RpcClient,
  inv: ClientInvocation,
  timeoutMs: number,
): Promise<number> {
  const deadline = new Deadline(inv.timeoutS);
  const order = await waves(client, inv);
  try {
    for (const wave of order.reverse()) {
      await Promise.all(
        wave.map(async (name) => {
          const left = deadline.left();
          const wait = left ?? (await stopWait(client, name, timeoutMs));
          await client.call("service_stop", [name], wait);
        }),
      );
    }
  } catch (err) {
    // With --timeout, a stop that outlasts it is a timeout like any other wait's.
    if (inv.wait && inv.timeoutS !== undefined && err instanceof TransportError) {
      if (err.kind === "timeout") {
        printError(`timed out after ${inv.timeoutS} s waiting for the stop: ${err.message}`);
        return EXIT_TIMEOUT;
      }
    }
    throw err;
  }
  return finish(client, inv, order.flat(), "stopped", deadline);
}

/** `zinit restart`: every stop first (dependents first), then every start, in order. */
export async function restart(
  client: RpcClient,
  inv: ClientInvocation,
  timeoutMs: number,
): Promise<number> {
  const deadline = new Deadline(inv.timeoutS);
  const order = await waves(client, inv);
  for (const wave of [...order].reverse()) {
    await Promise.all(
      wave.map(async (name) =>
        stopForRestart(client, name, await stopWait(client, name, timeoutMs)),
      ),
    );
  }
  const names = order.flat();
  for (const name of names) await client.call("service_start", [name], timeoutMs);
  return finish(client, inv, names, "running", deadline);
}

/** Without --wait: done (`null` with --json). With it: the daemon's wait decides the exit code. */
async function finish(
  client: RpcClient,
  inv: ClientInvocation,
  names: string[],
  condition: WaitFor,
  deadline: Deadline,
): Promise<number> {
  if (!inv.wait) {
    if (inv.json) print("null\n");
    return EXIT_MET;
  }
  return report(inv, await serviceWait(client, names, condition, deadline), condition);
}

/** `zinit wait NAME... [--for STATE] [--timeout S]`. */
export async function waitCommand(client: RpcClient, inv: ClientInvocation): Promise<number> {
  const condition = inv.waitFor ?? "running";
  const outcome = await serviceWait(client, inv.names ?? [], condition, new Deadline(inv.timeoutS));
  return report(inv, outcome, condition);
}

/** service_wait over any number of names (in chunks the daemon accepts), as one outcome. */
async function serviceWait(
  client: RpcClient,
  names: string[],
  condition: WaitFor,
  deadline: Deadline,
): Promise<WaitOutcome> {
  const unique = [...new Set(names)];
  const chunks: string[][] = [];
  for (let i = 0; i < unique.length; i += WAIT_CHUNK) chunks.push(unique.slice(i, i + WAIT_CHUNK));
  const left = deadline.left();
  const seconds = left === null ? null : left / 1000;
  // The reply comes when the wait is over: the call itself never times out before that.
  const callTimeout = left === null ? 0 : left + STOP_MARGIN_S * 1000;
  const outcomes = await Promise.all(
    chunks.map(async (chunk) => {
      const result = await client.call("service_wait", [chunk, condition, seconds], callTimeout);
      if (!isRecord(result) || !isRecord(result.services)) {
        throw new TransportError("protocol", "unexpected reply to service_wait");
      }
      return result as unknown as WaitOutcome;
    }),
  );
  const merged: WaitOutcome = { ok: true, why: "met", services: {} };
  for (const o of outcomes) {
    Object.assign(merged.services, o.services);
    if (o.why === "failed") merged.why = "failed";
    else if (o.why === "timeout" && merged.why !== "failed") merged.why = "timeout";
  }
  merged.ok = merged.why === "met";
  return merged;
}

/** Prints the outcome (JSON, or one line saying which services are not there and why). */
function report(inv: ClientInvocation, outcome: WaitOutcome, condition: WaitFor): number {
  if (inv.json) print(`${JSON.stringify(outcome)}\n`);
  if (outcome.why === "met") return EXIT_MET;
  const missing = Object.entries(outcome.services)
    .filter(([, s]) => !s.met)
    .map(([name, s]) => `${name} is ${s.state}${s.reason ? ` (${s.reason})` : ""}`);
  if (!inv.json) {
    const what = `${condition === "running" ? "to be running" : `to be ${condition}`}`;
    printError(
      outcome.why === "timeout"
        ? `timed out after ${inv.timeoutS} s waiting for services ${what}: ${missing.join("; ")}`
        : `services cannot get ${what.replace(/^to be /, "")}: ${missing.join("; ")}`,
    );
  }
  return outcome.why === "timeout" ? EXIT_TIMEOUT : EXIT_FAILED;
}

/** `zinit ready [NAME...]`: 0 when ready, 1 with one line saying which are not. */
export async function readyCommand(client: RpcClient, inv: ClientInvocation): Promise<number> {
  const names = inv.names ?? [];
  const report = await client.call("system_ready", names.length > 0 ? [names] : []);
  if (!isRecord(report) || typeof report.ready !== "boolean") {
    throw new TransportError("protocol", "unexpected reply to system_ready");
  }
  if (inv.json) print(`${JSON.stringify(report)}\n`);
  if (report.ready) return 0;
  if (!inv.json) printError(`not ready: ${notReadyText(report)}`);
  return 1;
}

function notReadyText(report: Record<string, unknown>): string {
  if (report.shutting_down === true) return "zinit is shutting down";
  const listed = (Array.isArray(report.not_ready) ? report.not_ready : []).map((s) =>
    isRecord(s) ? `${s.name} (${s.state}: ${s.reason})` : String(s),
  );
  if (typeof report.more === "number" && report.more > 0) listed.push(`and ${report.more} more`);
  return listed.join(", ");
}
