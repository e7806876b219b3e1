// The client verbs: each one talks JSON-RPC to the daemon and prints what upstream prints.

import { type ClientInvocation, UsageError } from "./args.ts";
import { RpcClient, RpcError, TransportError } from "./client.ts";
import { untilInterrupted } from "./interrupt.ts";
import { runLog } from "./logs.ts";
import { print, printStderr, printWarning } from "./output.ts";
import { fromJson, Real, toYaml, type YamlValue } from "./yaml-out.ts";

/** jsonrpsee's default request timeout, which upstream's CLI inherits. */
const DEFAULT_TIMEOUT_S = 60;
/** upstream's ServiceIsDown: the process vanished on its own, which is what a restart wants. */
const SERVICE_IS_DOWN = -32003;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

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
  if (!isObject(status)) return toYaml(fromJson(status));
  const after = isObject(status.after) ? sortedMap(status.after) : fromJson(status.after);
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
  if (!isObject(stats)) return toYaml(fromJson(stats));
  const children = Array.isArray(stats.children)
    ? stats.children.map((c) => (isObject(c) ? new Map(processStats(c)) : fromJson(c)))
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

export async function runClient(inv: ClientInvocation): Promise<number> {
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
        if (!isObject(result))
          throw new TransportError("protocol", "unexpected reply to service_list");
        print(inv.json ? `${JSON.stringify(sortedObject(result))}\n` : toYaml(sortedMap(result)));
        return 0;
      }
      case "status": {
        const result = await client.call("service_status", [name]);
        print(inv.json ? `${JSON.stringify(result)}\n` : statusYaml(result));
        return 0;
      }
      case "stats": {
        const result = await client.call("service_stats", [name]);
        print(inv.json ? `${JSON.stringify(result)}\n` : statsYaml(result));
        return 0;
      }
      case "start":
      case "stop":
      case "monitor":
      case "forget":
        return done(await client.call(`service_${inv.verb}`, [name]));
      case "kill":
        return done(await client.call("service_kill", [name, inv.signal ?? "SIGTERM"]));
      case "restart":
        return done(await restart(client, name, timeoutMs));
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
 * Stop (ours answers once every process is gone), then start. If the stop does not answer in
 * time, SIGKILL the service and wait for that same stop to finish before starting again.
 */
async function restart(client: RpcClient, name: string, timeoutMs: number): Promise<unknown> {
  const stopped = client.call("service_stop", [name], 0);
  if ((await within(stopped, timeoutMs)) === TIMED_OUT) {
    try {
      await client.call("service_kill", [name, "SIGKILL"]);
    } catch (err) {
      if (!(err instanceof RpcError && err.code === SERVICE_IS_DOWN)) throw err;
    }
    if ((await within(stopped, timeoutMs)) === TIMED_OUT) {
      throw new TransportError("timeout", `service '${name}' did not stop, even after SIGKILL`);
    }
  }
  return client.call("service_start", [name]);
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
  if (!isLoopback(bind.ip)) {
    printWarning(
      `${bind.text} is reachable from other hosts, and the HTTP/RPC API has no authentication: ` +
        "anyone who can connect can create and run services as zinit's user (root)",
    );
  }
  const ending = untilInterrupted(client);
  const started = await client.call("system_start_http_server", [bind.text]);
  print(inv.json ? `${JSON.stringify(started)}\n` : `${String(started)}\nPress Ctrl+C to stop\n`);
  const end = await ending;
  if (end.kind === "closed") throw end.error;
  await client.call("system_stop_http_server");
  if (!inv.json) print("HTTP/RPC server stopped\n");
  return 0;
}
