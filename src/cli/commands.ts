// The client verbs: each one talks JSON-RPC to the daemon and prints what upstream prints.

import { isRecord } from "../values.ts";
import { type ClientInvocation, UsageError } from "./args.ts";
import { DaemonError, RpcClient, TransportError } from "./client.ts";
import { followEvents } from "./events.ts";
import { untilInterrupted } from "./interrupt.ts";
import { readyCommand, restart, start, stop, waitCommand } from "./lifecycle.ts";
import { runLog } from "./logs.ts";
import { print, printError, printStderr, printWarning } from "./output.ts";
import { fromJson, Real, toYaml, type YamlValue } from "./yaml-out.ts";

/** jsonrpsee's default request timeout, which upstream's CLI inherits. */
const DEFAULT_TIMEOUT_S = 60;
/** upstream's ServiceIsUp: what `forget` answers while the target is Up or a process remains. */
const SERVICE_IS_UP = -32002;
/** upstream's ConfigError: its message names the file, only its cause_chain says what is wrong. */
const CONFIG_ERROR = -32005;

export function timeoutFromEnv(value: string | undefined): number {
  if (value === undefined || value.trim() === "") return DEFAULT_TIMEOUT_S * 1000;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new UsageError(`ZINIT_TIMEOUT must be a number of seconds (got '${value}')`);
  }
  return Math.round(seconds * 1000);
}

function sortedMap(value: Record<string, unknown>): Map<string, YamlValue> {
  return new Map(
    Object.keys(value)
      .sort()
      .map((key) => [key, fromJson(value[key])]),
  );
}

function sortedObject(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, value[key]]),
  );
}

/** `status`: upstream's struct order, `after` sorted (upstream prints it in HashMap order). */
export function statusYaml(status: unknown): string {
  if (!isRecord(status)) return toYaml(fromJson(status));
  const after = isRecord(status.after) ? sortedMap(status.after) : fromJson(status.after);
  return toYaml(
    new Map<string, YamlValue>([
      ["name", fromJson(status.name)],
      ["pid", fromJson(status.pid)],
      ["state", fromJson(status.state)],
      ["target", fromJson(status.target)],
      ["after", after],
    ]),
  );
}

function processStats(stats: Record<string, unknown>): Array<[string, YamlValue]> {
  const cpu = stats.cpu_usage;
  return [
    ["pid", fromJson(stats.pid)],
    ["memory_usage", fromJson(stats.memory_usage)],
    ["cpu_usage", typeof cpu === "number" ? new Real(cpu) : fromJson(cpu)],
  ];
}

/** `stats`: `cpu_usage` is an f32 upstream, so it always prints as a float (`0.0`). */
export function statsYaml(stats: unknown): string {
  if (!isRecord(stats)) return toYaml(fromJson(stats));
  const children = Array.isArray(stats.children)
    ? stats.children.map((c) => (isRecord(c) ? new Map(processStats(c)) : fromJson(c)))
    : fromJson(stats.children);
  return toYaml(
    new Map<string, YamlValue>([
      ["name", fromJson(stats.name)],
      ...processStats(stats),
      ["children", children],
    ]),
  );
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function isLoopback(ip: string): boolean {
  const v4 = IPV4.exec(ip.replace(/^::ffff:/i, ""));
  if (v4) return v4[1] === "127";
  // ::1 in any spelling (`::1`, `0:0:0:0:0:0:0:1`).
  return /^(0{0,4}:){2,7}0{0,3}1$/.test(ip);
}

/**
 * `HOST:PORT` → the `IP:PORT` the daemon can bind. Upstream's CLI let hostnames through and the
 * daemon then failed on them; here `localhost` means 127.0.0.1 and other names are resolved.
 */
async function bindAddress(address: string): Promise<{ ip: string; text: string }> {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = Number(match?.[3]);
  if (!match || port > 65535) {
    throw new UsageError(`invalid address '${address}': expected HOST:PORT, e.g. 127.0.0.1:8080`);
  }
  const host = (match[1] ?? match[2]) as string;
  const { isIP } = await import("node:net");
  let ip = host;
  if (host === "localhost") {
    ip = "127.0.0.1";
  } else if (isIP(host) === 0) {
    const { lookup } = await import("node:dns/promises");
    try {
      ip = (await lookup(host)).address;
    } catch (err) {
      throw new UsageError(`cannot resolve '${host}': ${(err as Error).message}`);
    }
  }
  return { ip, text: isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}` };
}

/**
 * A ConfigError with its cause on the same line (`…: failed to load 'web.yaml': /etc/zinit/
 * web.yaml:2:10: oneshot: expected true or false, got "maybe"`); any other error as it is.
 */
function withCause(err: unknown): unknown {
  if (!(err instanceof DaemonError) || err.code !== CONFIG_ERROR || !isRecord(err.data)) return err;
  const chain = err.data.cause_chain;
  const causes = Array.isArray(chain) ? chain.filter((c) => typeof c === "string") : [];
  if (causes.length === 0) return err;
  return new DaemonError(err.code, `${err.message}: ${causes.join(": ")}`, err.data);
}

export async function runClient(inv: ClientInvocation): Promise<number> {
  try {
    return await runVerb(inv);
  } catch (err) {
    throw withCause(err);
  }
}

async function runVerb(inv: ClientInvocation): Promise<number> {
  if (inv.verb === "check") {
    // Offline: no daemon, no socket. Loaded only here, with the schema it brings.
    const { runCheck } = await import("./check.ts");
    return runCheck(inv);
  }
  const timeoutMs = timeoutFromEnv(process.env.ZINIT_TIMEOUT);
  const connect = () =>
    RpcClient.connect(inv.socket, {
      timeoutMs,
      trace: inv.debug ? (line) => printStderr(`${line}\n`) : undefined,
    });
  if (inv.verb === "proxy") {
    // Validated before connecting, so a bad address fails the same with or without a daemon.
    const bind = await bindAddress(inv.address ?? "");
    if (!inv.json) {
      print(`Starting HTTP/RPC server on ${inv.address}\n`);
      print(`Connecting to Zinit daemon at ${inv.socket}\n`);
    }
    const client = await connect();
    try {
      return await proxy(client, inv, bind);
    } finally {
      client.close();
    }
  }

  const client = await connect();
  const name = inv.name ?? "";
  const done = (value: unknown) => {
    if (inv.json) print(`${JSON.stringify(value ?? null)}\n`);
    return 0;
  };
  try {
    switch (inv.verb) {
      case "list": {
        const result = await client.call("service_list");
        if (!isRecord(result))
          throw new TransportError("protocol", "unexpected reply to service_list");
        print(inv.json ? `${JSON.stringify(sortedObject(result))}\n` : toYaml(sortedMap(result)));
        return 0;
      }
      case "status":
        return await status(client, inv);
      case "stats": {
        const result = await client.call("service_stats", [name]);
        print(inv.json ? `${JSON.stringify(result)}\n` : statsYaml(result));
        return 0;
      }
      case "start":
        return await start(client, inv, timeoutMs);
      case "stop":
        return await stop(client, inv, timeoutMs);
      case "restart":
        return await restart(client, inv, timeoutMs);
      case "wait":
        return await waitCommand(client, inv);
      case "ready":
        return await readyCommand(client, inv);
      case "events":
        return await followEvents(client, inv.json, untilInterrupted(client));
      case "monitor":
        return done(await client.call("service_monitor", [name]));
      case "forget":
        return done(await forget(client, name));
      case "kill":
        return done(await client.call("service_kill", [name, inv.signal ?? "SIGTERM"]));
      case "shutdown":
      case "reboot":
        return done(await powerOff(client, inv.verb));
      case "log":
        return await runLog(client, inv);
    }
  } finally {
    client.close();
  }
}

const METHOD_NOT_FOUND = -32601;

/** service_inspect's detail, or service_status's result from a daemon without it (upstream). */
async function detailOf(client: RpcClient, name: string): Promise<unknown> {
  try {
    return await client.call("service_inspect", [name]);
  } catch (err) {
    if (!(err instanceof DaemonError && err.code === METHOD_NOT_FOUND)) throw err;
    return client.call("service_status", [name]);
  }
}

/** The detail as YAML: upstream's status fields first (`after` sorted), then the rest. */
function detailYaml(detail: unknown): string {
  if (!isRecord(detail)) return toYaml(fromJson(detail));
  const after = isRecord(detail.after) ? sortedMap(detail.after) : fromJson(detail.after);
  const first = ["name", "pid", "state", "target", "after"];
  return toYaml(
    new Map<string, YamlValue>([
      ...first.map((k): [string, YamlValue] => [k, k === "after" ? after : fromJson(detail[k])]),
      ...Object.keys(detail)
        .filter((k) => !first.includes(k))
        .map((k): [string, YamlValue] => [k, fromJson(detail[k])]),
    ]),
  );
}

/**
 * `status NAME`: upstream's YAML, byte for byte, and (on stderr) why it is not Running; `-v` and
 * `--json` print the detail instead; no NAME: the detail of every service.
 */
async function status(client: RpcClient, inv: ClientInvocation): Promise<number> {
  if (inv.name === undefined) {
    const list = await client.call("service_list");
    if (!isRecord(list)) throw new TransportError("protocol", "unexpected reply to service_list");
    const details = await Promise.all(
      Object.keys(list)
        .sort()
        .map((n) => detailOf(client, n)),
    );
    print(inv.json ? `${JSON.stringify(details)}\n` : details.map(detailYaml).join(""));
    return 0;
  }
  const name = inv.name;
  if (inv.verbose || inv.json) {
    const detail = await detailOf(client, name);
    print(inv.json ? `${JSON.stringify(detail)}\n` : detailYaml(detail));
    return 0;
  }
  const result = await client.call("service_status", [name]);
  print(statusYaml(result));
  if (isRecord(result) && result.state !== "Running") {
    const why = await whyNotRunning(client, name);
    if (why) printError(`${name} is not running: ${why}`);
  }
  return 0;
}

/** The failing check, else the reason, from service_inspect; "" from a daemon without it. */
async function whyNotRunning(client: RpcClient, name: string): Promise<string> {
  try {
    const detail = await client.call("service_inspect", [name]);
    if (!isRecord(detail)) return "";
    const failure = typeof detail.check_failure === "string" ? detail.check_failure : "";
    return failure || (typeof detail.reason === "string" ? detail.reason : "");
  } catch (err) {
    if (err instanceof DaemonError) return "";
    throw err;
  }
}

/**
 * Upstream's "service 'x' is up" puzzles users whose oneshot has long finished: the rule is about
 * the target (and any process left), not the state. The error says which and what to do.
 */
async function forget(client: RpcClient, name: string): Promise<unknown> {
  try {
    return await client.call("service_forget", [name]);
  } catch (err) {
    if (!(err instanceof DaemonError && err.code === SERVICE_IS_UP)) throw err;
    let why = "";
    try {
      const status = await client.call("service_status", [name]);
      if (isRecord(status) && status.target === "Up") {
        why = `its target is Up; \`zinit stop ${name}\` first`;
      } else if (isRecord(status) && typeof status.pid === "number" && status.pid !== 0) {
        why = `it is still stopping (pid ${status.pid}); wait for \`zinit stop ${name}\` to return`;
      }
    } catch {
      // The explanation is a courtesy; the daemon's own error still stands.
    }
    if (why === "") throw err;
    throw new DaemonError(err.code, `${err.message}: ${why}`, err.data);
  }
}

/** The daemon answers before going down (upstream never did: a dropped connection is success). */
async function powerOff(client: RpcClient, verb: "shutdown" | "reboot"): Promise<unknown> {
  try {
    return await client.call(verb === "shutdown" ? "system_shutdown" : "system_reboot");
  } catch (err) {
    if (err instanceof TransportError && err.kind === "closed") return null;
    throw err;
  }
}

async function proxy(
  client: RpcClient,
  inv: ClientInvocation,
  bind: { ip: string; text: string },
): Promise<number> {
  const access = await httpAccess(client, inv);
  if (!isLoopback(bind.ip) && access?.token !== true) {
    printWarning(
      `${bind.text} is reachable from other hosts, and the HTTP/RPC API has no token ` +
        "(--token-file): anyone who can connect can create and run services as zinit's user (root)",
    );
  }
  const ending = untilInterrupted(client);
  const started = await client.call("system_start_http_server", [bind.text]);
  const bound = String(started).replace(/^HTTP\/RPC server started at /, "");
  print(inv.json ? `${JSON.stringify(started)}\n` : `${String(started)}\nPress Ctrl+C to stop\n`);
  const end = await ending;
  if (end.kind === "closed") throw end.error;
  // Only our own server is stopped: another proxy may have replaced it meanwhile.
  const now = access === null ? null : await readAccess(client);
  if (now === null || now.address === bound) await client.call("system_stop_http_server");
  if (!inv.json) print("HTTP/RPC server stopped\n");
  return 0;
}

interface AccessState {
  address: string | null;
  token: boolean;
}

/**
 * Sends `--cors-origin/--allow-host/--token-file` to the daemon and reads what is in force. A
 * daemon without system_http_access (upstream) answers null, and then the flags cannot be honoured.
 */
async function httpAccess(client: RpcClient, inv: ClientInvocation): Promise<AccessState | null> {
  const change: Record<string, unknown> = {};
  if (inv.corsOrigins) change.cors_origins = inv.corsOrigins;
  if (inv.allowHosts) change.allow_hosts = inv.allowHosts;
  const envToken = process.env.ZINIT_TOKEN?.trim();
  if (inv.tokenFile !== undefined) change.token = await readTokenFile(inv.tokenFile);
  else if (envToken) change.token = envToken;
  const asked = Object.keys(change).length > 0;
  try {
    return accessState(await client.call("system_http_access", asked ? [change] : []));
  } catch (err) {
    if (!(err instanceof DaemonError && err.code === METHOD_NOT_FOUND)) throw err;
    if (asked) {
      throw new UsageError(
        "this zinit daemon does not support --cors-origin, --allow-host or a token (upstream zinit?)",
      );
    }
    return null;
  }
}

async function readAccess(client: RpcClient): Promise<AccessState | null> {
  return accessState(await client.call("system_http_access", []));
}

function accessState(state: unknown): AccessState | null {
  if (!isRecord(state)) return null;
  return {
    address: typeof state.address === "string" ? state.address : null,
    token: state.token === true,
  };
}

async function readTokenFile(path: string): Promise<string> {
  const { readFileSync } = await import("node:fs");
  let token = "";
  try {
    token = readFileSync(path, "utf8").split("\n")[0]?.trim() ?? "";
  } catch (err) {
    throw new UsageError(`cannot read token file '${path}': ${(err as Error).message}`);
  }
  if (token === "") throw new UsageError(`token file '${path}' is empty`);
  return token;
}
