// `zinit log`: the ring's lines, filtered and paged through stream_queryLogs, then (unless `-s` or
// `--until`) new ones from a stream_followLogs subscription. The subscription starts before the
// first page is asked for, and every line carries its sequence number, so the follower prints
// each line exactly once: none is lost between the snapshot and the stream, none repeated. Lines
// print in upstream's form (`[+] web: …`), with `-t` after their time, with `--json` as records.
// Against a daemon without these methods (upstream zinit), the plain forms fall back to
// stream_currentLogs and stream_subscribeLogs.

import { isRecord } from "../values.ts";
import type { ClientInvocation, LogInvocation } from "./args.ts";
import { DaemonError, type RpcClient, TransportError } from "./client.ts";
import { type Ending, untilInterrupted } from "./interrupt.ts";
import { print, printStderr } from "./output.ts";

const METHOD_NOT_FOUND = -32601;
const HELPER = /\/(test|live|stop)$/;

/** A record as stream_queryLogs and stream_followLogs send it; zinit's notes have no `seq`. */
interface LogRecord {
  seq?: number;
  time: number;
  service: string;
  stream: string;
  line: string;
  /** The last item of a follow: zinit is stopping. */
  end?: boolean;
}

interface Page {
  records: LogRecord[];
  next: number | null;
  to: number;
}

function asPage(value: unknown): Page {
  if (!isRecord(value) || !Array.isArray(value.records) || typeof value.to !== "number") {
    throw new TransportError("protocol", "unexpected reply to stream_queryLogs");
  }
  return value as unknown as Page;
}

function formatter(json: boolean, timestamps: boolean): (rec: LogRecord) => string {
  if (json) return (rec) => `${JSON.stringify(rec)}\n`;
  return (rec) => {
    const time = timestamps ? `${new Date(rec.time).toISOString()} ` : "";
    return `${time}${rec.stream === "stdout" ? "[+]" : "[-]"} ${rec.service}: ${rec.line}\n`;
  };
}

/** Unknown names fail before any log call, as upstream's CLI does (its lines would never come). */
async function checkNames(client: RpcClient, names: string[]): Promise<void> {
  for (const name of names) {
    if (name === "zinit") continue;
    await client.call("service_status", [name.replace(HELPER, "")]);
  }
}

export async function runLog(client: RpcClient, inv: ClientInvocation): Promise<number> {
  const opts = inv.log as LogInvocation;
  if (opts.reopen) {
    const paths = await client.call("system_reopenLogs");
    if (inv.json) print(`${JSON.stringify(paths)}\n`);
    return 0;
  }
  await checkNames(client, opts.names);
  // Listening before the first line is printed: whoever reads it may press Ctrl-C right away.
  const ending = opts.follow ? untilInterrupted(client) : null;
  try {
    return await queryLog(client, inv, opts, ending);
  } catch (err) {
    const plain =
      opts.names.length <= 1 &&
      opts.lines === undefined &&
      opts.since === undefined &&
      opts.until === undefined &&
      opts.grep === undefined &&
      !opts.timestamps &&
      !inv.json;
    if (!(err instanceof DaemonError && err.code === METHOD_NOT_FOUND)) throw err;
    if (!plain) {
      throw new TransportError(
        "protocol",
        "this zinit has no log queries (stream_queryLogs); only `zinit log [-s] [NAME]` works with it",
      );
    }
    return upstreamLog(client, opts, ending);
  }
}

async function queryLog(
  client: RpcClient,
  inv: ClientInvocation,
  opts: LogInvocation,
  ending: Promise<Ending> | null,
): Promise<number> {
  const format = formatter(inv.json, opts.timestamps);
  const filter: Record<string, unknown> = {};
  if (opts.names.length > 0) filter.names = opts.names;
  if (opts.grep !== undefined) filter.grep = opts.grep;

  // Live records wait here until the snapshot is printed; those it already holds are skipped.
  let held: LogRecord[] | null = [];
  let shown = Number.POSITIVE_INFINITY;
  let stopped = false;
  let onStop = () => {};
  const stop = new Promise<"stopped">((resolve) => {
    onStop = () => resolve("stopped");
  });
  const live = (rec: LogRecord) => {
    if (stopped) return;
    if (rec.end) {
      stopped = true;
      onStop();
      return;
    }
    if (rec.seq !== undefined && rec.seq <= shown) return;
    print(format(rec));
  };
  if (ending) {
    await client.subscribe("stream_followLogs", filter, (item) => {
      if (!isRecord(item)) return;
      if (held) held.push(item as unknown as LogRecord);
      else live(item as unknown as LogRecord);
    });
  }

  const query: Record<string, unknown> = { ...filter };
  if (opts.lines !== undefined) query.lines = opts.lines;
  if (opts.since !== undefined) query.since = opts.since;
  if (opts.until !== undefined) query.until = opts.until;
  try {
    let page = asPage(await client.call("stream_queryLogs", query));
    const to = page.to;
    for (;;) {
      if (page.records.length > 0) print(page.records.map(format).join(""));
      if (page.next === null) break;
      page = asPage(await client.call("stream_queryLogs", { ...query, after: page.next, to }));
    }
    shown = to;
  } catch (err) {
    // zinit stopped while the snapshot was being read: what was printed is all there is.
    if (!(held?.some((rec) => rec.end) && err instanceof TransportError)) throw err;
    shown = Number.POSITIVE_INFINITY;
  }
  if (!ending) return 0;
  const backlog = held ?? [];
  held = null;
  for (const rec of backlog) live(rec);
  const end = await Promise.race([ending, stop]);
  if (end === "stopped") {
    printStderr("zinit stopped\n");
    return 0;
  }
  if (end.kind === "signal") return 0;
  throw end.error;
}

/**
 * The log lines that are new after the snapshot. `backlog` holds the notifications that arrived
 * before the snapshot reply, oldest first; its first lines were pushed before the snapshot was
 * taken and are therefore also its newest lines. The cut is the longest prefix of `backlog` that
 * ends like the snapshot does. With an in-order server that is all of it.
 */
export function linesAfterSnapshot(snapshot: string[], backlog: string[]): string[] {
  for (let cut = backlog.length; cut > 0; cut--) {
    const overlap = Math.min(cut, snapshot.length);
    let same = true;
    for (let i = 1; i <= overlap && same; i++) {
      same = backlog[cut - i] === snapshot[snapshot.length - i];
    }
    if (same && overlap > 0) return backlog.slice(cut);
  }
  return backlog;
}

function asLines(value: unknown, method: string): string[] {
  if (!Array.isArray(value)) throw new TransportError("protocol", `unexpected reply to ${method}`);
  return value.map((line) => (typeof line === "string" ? line : JSON.stringify(line)));
}

/** Upstream's methods: subscribe first, then the snapshot, minus what both hold. */
async function upstreamLog(
  client: RpcClient,
  opts: LogInvocation,
  ending: Promise<Ending> | null,
): Promise<number> {
  const params = opts.names.length > 0 ? [opts.names[0]] : [];
  const emit = (line: string) => print(`${line}\n`);
  if (!ending) {
    for (const line of asLines(
      await client.call("stream_currentLogs", params),
      "stream_currentLogs",
    )) {
      emit(line);
    }
    return 0;
  }
  let backlog: string[] | null = [];
  await client.subscribe("stream_subscribeLogs", params, (item) => {
    const line = typeof item === "string" ? item : JSON.stringify(item);
    if (backlog) backlog.push(line);
    else emit(line);
  });
  const snapshot = asLines(await client.call("stream_currentLogs", params), "stream_currentLogs");
  for (const line of snapshot) emit(line);
  for (const line of linesAfterSnapshot(snapshot, backlog)) emit(line);
  backlog = null;
  const end = await ending;
  if (end.kind === "signal") return 0;
  throw end.error;
}
