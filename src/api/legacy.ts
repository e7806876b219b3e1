// The v0.2.0–v0.2.14 line protocol (ZOS and older tooling speak it): one shell-quoted command line
// per connection, answered with one `{"state":…,"body":…}` object and no newline, then the server
// closes. `log` answers raw text instead. It calls Control directly because its error strings and
// result shapes differ from the JSON-RPC ones.

import { serviceNameError } from "../config/names.ts";
import { splitWords } from "../config/shlex.ts";
import { ZinitError } from "../core/errors.ts";
import { parseSignal } from "../core/signals.ts";
import type { Control } from "./control.ts";
import { laggingFeed, lagLine } from "./follower.ts";

/** Where a command's answer goes; the transport owns buffering and back-pressure. */
interface LegacyOutput {
  write(text: string): void;
  /** Flushes what was written, then closes the connection. */
  end(): void;
  /** True while the peer has too much unread output (a `log` follower then skips lines). */
  congested(): boolean;
  /** Registers what to do once the peer's output queue has emptied. */
  onEmptied(listener: () => void): void;
}

/** Upstream built bodies through serde_json::Value (a BTreeMap), so every object's keys are sorted. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      out[key] = sortKeys((value as Record<string, unknown>)[key]);
    }
    return out;
  }
  return value;
}

export function legacyOk(body: unknown): string {
  // `state` before `body`: the response is a Rust struct, serialized in declaration order.
  return JSON.stringify({ state: "ok", body: sortKeys(body ?? null) });
}

export function legacyError(message: string): string {
  return JSON.stringify({ state: "error", body: message });
}

class LegacyFailure extends Error {}

/** v0.2.14's wording of each supervisor error. */
function legacyMessage(err: unknown): string {
  if (err instanceof LegacyFailure) return err.message;
  if (err instanceof ZinitError) {
    const name = err.details.service ?? "";
    switch (err.kind) {
      case "ServiceNotFound":
        return `service name "${name}" unknown`;
      case "ServiceAlreadyMonitored":
        return `service "${name}" already monitored`;
      case "ServiceIsUp":
        return `service "${name}" is up`;
      case "ServiceIsDown":
        return `service "${name}" is down`;
      case "ShuttingDown":
        return "zinit is shutting down";
      case "InvalidSignal":
        return "EINVAL: Invalid argument";
      default:
        return err.message;
    }
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs one command line. Resolves to an unsubscribe function when the command is a `log` follow
 * (the transport calls it when the peer goes away), otherwise to null after the reply was ended.
 */
export async function runLegacyCommand(
  line: string,
  control: Control,
  out: LegacyOutput,
): Promise<(() => void) | null> {
  let parts: string[];
  try {
    // Line-mode tools (`nc -C`, telnet) end lines with CRLF; upstream read the CR as part of the
    // last word and answered "unknown command".
    parts = splitWords(line.endsWith("\r") ? line.slice(0, -1) : line);
  } catch {
    out.write(legacyError("invalid command syntax"));
    out.end();
    return null;
  }
  const cmd = parts[0];
  if (cmd === "log") return log(parts, control, out);
  let reply: string;
  try {
    reply = legacyOk(await dispatch(parts, control));
  } catch (err) {
    reply = legacyError(legacyMessage(err));
  }
  out.write(reply);
  out.end();
  return null;
}

async function dispatch(parts: string[], control: Control): Promise<unknown> {
  const [cmd, name = "", arg = ""] = parts;
  if (cmd === undefined) throw new LegacyFailure("unknown command");
  // list/shutdown/reboot ignore extra words, as upstream's match arms have no length guard.
  switch (cmd) {
    case "list":
      return control.list();
    case "shutdown":
    case "reboot":
      control.shutdown(cmd === "reboot");
      return null;
  }
  const count = cmd === "kill" ? 3 : 2;
  if (parts.length !== count) {
    throw new LegacyFailure(`unknown command '${cmd}' or wrong arguments count`);
  }
  switch (cmd) {
    case "status":
      return control.status(name);
    case "start":
      control.start(name);
      return null;
    case "stop": {
      // Legacy stop only signalled and returned (ZOS polls status afterwards), so the reply must
      // not wait for the processes to go. status() reports an unknown name synchronously.
      control.status(name);
      control.stop(name).catch(() => {});
      return null;
    }
    case "forget":
      control.forget(name);
      return null;
    case "monitor":
      // Upstream loaded `<name>.yaml` relative to the config dir unchecked (`monitor ../x`).
      if (serviceNameError(name) !== null) throw new LegacyFailure("failed to load service config");
      try {
        await control.monitor(name);
      } catch (err) {
        // Upstream wrapped every load failure in this one context message.
        const kind = err instanceof ZinitError ? err.kind : null;
        if (kind === "ServiceAlreadyMonitored" || kind === "ShuttingDown") throw err;
        throw new LegacyFailure("failed to load service config");
      }
      return null;
    case "kill": {
      if (parseSignal(arg) === null) throw new LegacyFailure("EINVAL: Invalid argument");
      control.kill(name, arg);
      return null;
    }
    default:
      throw new LegacyFailure(`unknown command '${cmd}' or wrong arguments count`);
  }
}

function log(parts: string[], control: Control, out: LegacyOutput): (() => void) | null {
  const follow = parts.length === 1;
  if (!follow && !(parts.length === 2 && parts[1] === "snapshot")) {
    out.write(legacyError("invalid log command arguments"));
    out.end();
    return null;
  }
  if (!follow) {
    writeLines(out, control.logs());
    out.end();
    return null;
  }
  // Subscribe, then snapshot, in the same synchronous turn: the ring delivers to subscribers
  // synchronously inside push(), so no line can land between the two calls — no gap (upstream's
  // CLI loses lines there) and no duplicate. Lines delivered before the snapshot is written are
  // held back so the output stays in ring order.
  let held: string[] | null = [];
  const feed = laggingFeed(
    () => out.congested(),
    (line: string) => out.write(`${line}\n`),
    lagLine,
  );
  out.onEmptied(feed.catchUp);
  const unsubscribe = control.subscribeLogs(undefined, (line) => {
    if (held) held.push(line);
    else feed.push(line);
  });
  writeLines(out, control.logs());
  writeLines(out, held);
  held = null;
  return unsubscribe;
}

function writeLines(out: LegacyOutput, lines: string[]): void {
  if (lines.length > 0) out.write(`${lines.join("\n")}\n`);
}
