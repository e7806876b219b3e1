// Boots the compiled daemon (dist/zinit) as PID 1 of a fresh PID namespace and talks to it over
// its socket, the way a user's tools do.

import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type RunResult, run } from "./run.ts";

export const ZINIT = resolve(import.meta.dir, "../../dist/zinit");

export interface BootOptions {
  /** File name → YAML text, written into the config directory before boot. */
  services?: Record<string, string>;
  container?: boolean;
  /** Run under `unshare --pid --fork --mount-proc` as PID 1 (default true). */
  pid1?: boolean;
  extraArgs?: string[];
  /** A command the whole thing runs under, e.g. `prlimit --nofile=600:600`. */
  prefix?: string[];
}

/** An error object in a reply of the booted daemon (the test side of src/api/errors.ts's ApiError). */
export class ReplyError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data: unknown,
  ) {
    super(message);
  }
}

export class Zinit {
  readonly exited: Promise<number>;
  private stderrText = "";

  private constructor(
    readonly dir: string,
    readonly configDir: string,
    readonly socket: string,
    readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">,
  ) {
    this.exited = proc.exited;
    void this.collect(proc.stderr);
    void this.collect(proc.stdout);
  }

  static async boot(opts: BootOptions = {}): Promise<Zinit> {
    const dir = mkdtempSync(join(tmpdir(), "zinit-test-"));
    const configDir = join(dir, "etc");
    const socket = join(dir, "zinit.sock");
    Bun.spawnSync(["mkdir", "-p", configDir]);
    for (const [file, text] of Object.entries(opts.services ?? {})) {
      writeFileSync(join(configDir, file), text);
    }
    const args = [ZINIT, "init", "-c", configDir, "-s", socket, ...(opts.extraArgs ?? [])];
    if (opts.container ?? true) args.push("--container");
    const cmd = [
      ...(opts.prefix ?? []),
      ...((opts.pid1 ?? true) ? ["unshare", "--pid", "--fork", "--mount-proc", ...args] : args),
    ];
    const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const z = new Zinit(dir, configDir, socket, proc);
    try {
      await z.waitFor(
        async () => z.proc.exitCode !== null || (await z.tryRpc("service_list")) !== undefined,
        20_000,
        "socket up",
      );
      if (z.proc.exitCode !== null) {
        throw new Error(`zinit exited with ${z.proc.exitCode} before its socket was up`);
      }
    } catch (err) {
      // Nothing of a failed boot is left behind: the daemon, its directory.
      await z.stop();
      throw new Error(`${(err as Error).message}\n--- zinit output ---\n${z.output}`);
    }
    return z;
  }

  /** Everything the daemon has written to stdout and stderr so far. */
  get output(): string {
    return this.stderrText;
  }

  private async collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) this.stderrText += decoder.decode(chunk, { stream: true });
  }

  /** One JSON-RPC call on a fresh connection. */
  async rpc(method: string, params: unknown = []): Promise<unknown> {
    const reply = (
      await rawRequest(
        this.socket,
        `${JSON.stringify({ jsonrpc: "2.0", id: 1, method, params })}\n`,
      )
    ).trim();
    const msg = JSON.parse(reply);
    if (msg.error) throw new ReplyError(msg.error.code, msg.error.message, msg.error.data);
    return msg.result;
  }

  private async tryRpc(method: string): Promise<unknown> {
    try {
      return await this.rpc(method);
    } catch {
      return undefined;
    }
  }

  async list(): Promise<Record<string, string>> {
    return (await this.rpc("service_list")) as Record<string, string>;
  }

  async status(name: string): Promise<{
    name: string;
    pid: number;
    state: string;
    target: string;
    after: Record<string, string>;
  }> {
    return (await this.rpc("service_status", [name])) as never;
  }

  async waitFor(
    check: () => Promise<boolean> | boolean,
    timeoutMs = 20_000,
    what = "condition",
  ): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let delay = 5;
    while (performance.now() < deadline) {
      if (await check()) return;
      await Bun.sleep(delay);
      delay = Math.min(delay * 2, 100);
    }
    throw new Error(`timed out waiting for ${what}\n--- zinit output ---\n${this.output}`);
  }

  async waitState(name: string, state: string | RegExp, timeoutMs = 20_000): Promise<void> {
    let last = "";
    await this.waitFor(
      async () => {
        last = (await this.list())[name] ?? "(missing)";
        return typeof state === "string" ? last === state : state.test(last);
      },
      timeoutMs,
      `${name} to be ${state} (last: ${last})`,
    );
  }

  /** Host pid of the namespace's PID 1 (the daemon). */
  hostPid(): number {
    if (!this.isNamespaced()) return this.proc.pid;
    const children = readFileSync(
      `/proc/${this.proc.pid}/task/${this.proc.pid}/children`,
      "utf8",
    ).trim();
    return Number(children.split(/\s+/)[0]);
  }

  private isNamespaced(): boolean {
    return readFileSync(`/proc/${this.proc.pid}/cmdline`, "utf8").startsWith("unshare");
  }

  signal(sig: NodeJS.Signals): void {
    process.kill(this.hostPid(), sig);
  }

  /** Host pids of every process in the daemon's PID namespace (including the daemon). */
  namespaceProcs(): NsProc[] {
    return namespaceProcs(this.hostPid());
  }

  async stop(): Promise<number> {
    if (this.proc.exitCode === null) {
      try {
        this.signal("SIGTERM");
      } catch {
        // already gone
      }
    }
    // A hung daemon is killed itself: killing `unshare` would leave the namespace running.
    const timer = setTimeout(() => {
      try {
        process.kill(this.hostPid(), "SIGKILL");
      } catch {
        this.proc.kill("SIGKILL");
      }
    }, 30_000);
    const code = await this.exited;
    clearTimeout(timer);
    rmSync(this.dir, { recursive: true, force: true });
    return code;
  }
}

export interface NsProc {
  /** Host pid. */
  pid: number;
  /** Pid inside the namespace. */
  nspid: number;
  state: string;
  comm: string;
}

/** Every process in the PID namespace of host pid `hostPid`. */
export function namespaceProcs(hostPid: number): NsProc[] {
  const ns = readlinkSync(`/proc/${hostPid}/ns/pid`);
  const out: NsProc[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/pid`) !== ns) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const nspids = readFileSync(`/proc/${entry}/status`, "utf8").match(/^NSpid:\s*(.*)$/m)?.[1];
      out.push({
        pid: Number(entry),
        nspid: Number(nspids?.trim().split(/\s+/).at(-1) ?? entry),
        comm: stat.slice(stat.indexOf("(") + 1, close),
        state: stat.slice(close + 2, close + 3),
      });
    } catch {
      // the process went away while we looked
    }
  }
  return out;
}

/** Sends raw bytes on a new unix-socket connection and resolves with the first reply line. */
export function rawRequest(socket: string, payload: string): Promise<string> {
  return new Promise((resolveReply, reject) => {
    let buf = "";
    Bun.connect({
      unix: socket,
      socket: {
        open(s) {
          s.write(payload);
        },
        data(s, chunk) {
          buf += chunk.toString();
          if (buf.includes("\n")) {
            s.end();
            resolveReply(buf);
          }
        },
        close() {
          resolveReply(buf);
        },
        error(_s, err) {
          reject(err);
        },
        connectError(_s, err) {
          reject(err);
        },
      },
    }).catch(reject);
  });
}

/** Runs the CLI against a daemon and returns what it printed. */
export function cli(socket: string, ...args: string[]): Promise<RunResult> {
  return run([ZINIT, "-s", socket, ...args]);
}
