// Lifecycle policies against the compiled daemon as PID 1 of a fresh PID namespace: critical
// services ending a container with their exit code after the ordered stop, `restart: never`,
// the restart budget and what `zinit start` does to it, `start --wait` running out of time, the
// event stream of a crash loop, and the `stop` command running before the stop signal. Waits
// follow the daemon's own event stream or happen in the daemon (`zinit wait`).

import { afterEach, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AS_ROOT } from "../helpers/privilege.ts";
import { cli, ZINIT, Zinit } from "../helpers/zinit.ts";
import { outputMatches, readText } from "./lib.ts";

setDefaultTimeout(90_000);

const WAIT_MS = 30_000;

/** One item of `zinit events --json` (the items of stream_subscribeEvents). */
interface EventItem {
  event: "snapshot" | "change" | "forgotten" | "lagged";
  name?: string;
  state?: string;
  target?: string;
  pid?: number;
  phase?: string;
  reason?: string;
  exit?: { code: number | null; signal: number | null } | null;
  time?: number;
}

/** `zinit events --json` as a user runs it, its items parsed as they arrive. */
class EventStream {
  readonly items: EventItem[] = [];
  private readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  private readonly waiters = new Set<() => void>();
  private eof = false;
  private readonly reading: Promise<void>;

  constructor(socket: string) {
    this.proc = Bun.spawn([ZINIT, "-s", socket, "events", "--json"], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    this.reading = this.read();
  }

  private async read(): Promise<void> {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of this.proc.stdout) {
      buf += decoder.decode(chunk, { stream: true });
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        this.items.push(JSON.parse(buf.slice(0, nl)) as EventItem);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf("\n");
      }
      for (const wake of this.waiters) wake();
    }
    this.eof = true;
    for (const wake of this.waiters) wake();
  }

  /** The changes of service `name`, in the order they came. */
  of(name: string): EventItem[] {
    return this.items.filter((e) => e.event === "change" && e.name === name);
  }

  /** Resolves with the first item that matches; fails at EOF or after the timeout. */
  until(what: string, match: (e: EventItem) => boolean, timeoutMs = WAIT_MS): Promise<EventItem> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => check(true), timeoutMs);
      const check = (expired = false) => {
        const found = this.items.find(match);
        if (found || expired || this.eof) {
          this.waiters.delete(check);
          clearTimeout(timer);
          if (found) resolve(found);
          else reject(new Error(`no event ${what}: ${JSON.stringify(this.items, null, 1)}`));
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Ctrl-C: the follower exits 0. */
  async close(): Promise<number> {
    if (this.proc.exitCode === null) this.proc.kill("SIGINT");
    const code = await this.proc.exited;
    await this.reading;
    return code;
  }
}

let z: Zinit | null = null;
let events: EventStream | null = null;

afterEach(async () => {
  await events?.close();
  events = null;
  await z?.stop();
  z = null;
});

/** Boots a daemon, then follows its events from before `files` are monitored (in that order). */
async function bootAndMonitor(files: Record<string, string>): Promise<Zinit> {
  z = await Zinit.boot({ services: {} });
  events = new EventStream(z.socket);
  await events.until("snapshot", (e) => e.event === "snapshot");
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(z.configDir, `${name}.yaml`), text);
    expect((await cli(z.socket, "monitor", name)).code).toBe(0);
  }
  return z;
}

/**
 * A service that records its start and its clean stop (on SIGTERM) in `file`; its start line,
 * written once the trap is set, is its readiness test, so Running means the trap is in place.
 */
const recorder = (file: string, name: string, extra = "") =>
  [
    `exec: sh -c 'trap "echo stop:${name} >> ${file}; exit 0" TERM; echo start:${name} >> ${file}; sleep 1000 & wait'`,
    `test: grep -qx start:${name} ${file}`,
    extra,
  ].join("\n");

const lines = (file: string) =>
  existsSync(file) ? readFileSync(file, "utf8").trim().split("\n") : [];

/** The daemon's "stopped NAME in …" lines, in the order it wrote them. */
const stoppedLines = (output: string) =>
  [...output.matchAll(/^zinit: INFO stopped (\S+) in [\d.]+ s \((.+)\)$/gm)].map(
    (m) => `${m[1]} (${m[2]})`,
  );

/** `status -v --json`'s detail of one service. */
async function inspect(name: string): Promise<Record<string, unknown>> {
  const out = await cli(z!.socket, "--json", "status", "-v", name);
  expect(out.code).toBe(0);
  return JSON.parse(out.stdout);
}

AS_ROOT.describe("critical services in a container", () => {
  test("exit 3 of a critical service: everything stops in reverse dependency order, zinit exits 3", async () => {
    z = await Zinit.boot({ services: {} });
    const order = join(z.dir, "order");
    // db <- cache <- app (critical) <- sidecar. USR1 makes the app exit 3.
    const files = {
      db: recorder(order, "db"),
      cache: recorder(order, "cache", "after: [db]\n"),
      app: [
        `exec: sh -c 'trap "exit 3" USR1; echo start:app >> ${order}; sleep 1000 & wait'`,
        `test: grep -qx start:app ${order}`,
        "after: [cache]",
        "critical: true",
        "restart: never",
        "",
      ].join("\n"),
      sidecar: recorder(order, "sidecar", "after: [app]\n"),
    };
    for (const [name, text] of Object.entries(files)) {
      writeFileSync(join(z.configDir, `${name}.yaml`), text);
      expect((await cli(z.socket, "monitor", name)).code).toBe(0);
    }
    const waited = await cli(z.socket, "wait", "db", "cache", "app", "sidecar", "--timeout", "30");
    expect(waited).toEqual({ code: 0, stdout: "", stderr: "" });

    await z.rpc("service_kill", ["app", "SIGUSR1"]);
    expect(await z.exited).toBe(3);
    await outputMatches(z, /all services stopped; exiting with code 3\n/);
    expect(z.output).toContain("WARN service app exited with code 3\n");
    expect(z.output).toContain(
      "ERROR critical service app failed for good: stopping everything (exit code 3)\n",
    );
    expect(z.output).toContain("INFO shutdown (app): stopping 4 services in order\n");
    // Dependents first: the sidecar, then (the app being gone already) cache, then db, each
    // one only after the one before it had exited, as their own trap lines show too.
    expect(stoppedLines(z.output)).toEqual([
      "sidecar (SIGTERM)",
      "cache (SIGTERM)",
      "db (SIGTERM)",
    ]);
    expect(lines(order).filter((l) => l.startsWith("stop:"))).toEqual([
      "stop:sidecar",
      "stop:cache",
      "stop:db",
    ]);
    // The order of zinit's own lines: the exit, the decision, the stops, the exit code.
    const at = (text: string) => z!.output.indexOf(text);
    expect(at("service app exited with code 3")).toBeLessThan(at("critical service app"));
    expect(at("critical service app")).toBeLessThan(at("stopped sidecar"));
    expect(at("stopped db")).toBeLessThan(at("all services stopped; exiting with code 3"));
  });

  test("a critical service killed by a signal once its budget is spent: zinit exits 128 + N", async () => {
    await bootAndMonitor({
      side: recorder("/dev/null", "side"),
      app: "exec: sleep 1000\ncritical: true\nmax_restarts: 1\nrestart_window_ms: 60000\n",
    });
    const first = await events!.until("app running", (e) => e.name === "app" && e.pid! > 0);
    // SIGUSR2 is 12. The first kill is within the budget: restarted at once.
    await z!.rpc("service_kill", ["app", "SIGUSR2"]);
    const second = await events!.until(
      "app running again",
      (e) => e.name === "app" && e.state === "Running" && e.pid !== first.pid,
    );
    expect(events!.of("app").find((e) => e.exit)).toMatchObject({
      state: `Error(Signaled(Pid(${first.pid}), SIGUSR2, false))`,
      exit: { code: null, signal: 12 },
      reason: "killed by SIGUSR2; restarting",
    });
    await z!.rpc("service_kill", ["app", "SIGUSR2"]);
    expect(await z!.exited).toBe(128 + 12);
    await outputMatches(z!, /all services stopped; exiting with code 140\n/);
    expect(z!.output).toContain(
      "ERROR service app killed by SIGUSR2; gave up after 1 restarts within 60 s ('zinit start app' tries again)\n",
    );
    expect(z!.output).toContain(
      "ERROR critical service app failed for good: stopping everything (exit code 140)\n",
    );
    expect(stoppedLines(z!.output)).toEqual(["side (SIGTERM)"]);
    expect(second.pid).toBeGreaterThan(1);
  });
});

AS_ROOT.describe("restart policy and budget", () => {
  test("restart: never keeps a killed service down: state, pid and target stay", async () => {
    await bootAndMonitor({
      never: "exec: sleep 1000\nrestart: never\n",
      canary: "exec: sleep 1000\n",
    });
    const running = await events!.until("never running", (e) => e.name === "never" && e.pid! > 0);
    await events!.until("canary running", (e) => e.name === "canary" && e.pid! > 0);
    await z!.rpc("service_kill", ["never", "SIGKILL"]);
    const down = `Error(Signaled(Pid(${running.pid}), SIGKILL, false))`;
    await events!.until("never killed", (e) => e.name === "never" && e.state === down);
    // The canary's restart goes through the daemon after the exit was handled: had `never`
    // been restarted (the first restart is immediate), its start would be in the stream first.
    const canaryPid = (await z!.status("canary")).pid;
    expect((await cli(z!.socket, "restart", "canary", "--wait", "--timeout", "30")).code).toBe(0);
    await events!.until(
      "canary restarted",
      (e) => e.name === "canary" && e.state === "Running" && e.pid !== canaryPid,
    );
    expect(
      events!.of("never").map((e) => `${e.state} pid=${e.pid} ${e.phase} ${e.reason}`),
    ).toEqual([
      "Unknown pid=0 starting starting",
      `Running pid=${running.pid} running ready`,
      `${down} pid=0 idle killed by SIGKILL`,
    ]);
    expect(await z!.status("never")).toMatchObject({ pid: 0, state: down, target: "Up" });
    expect(await inspect("never")).toMatchObject({
      phase: "idle",
      restarts: 0,
      next_restart_ms: null,
      last_exit: { code: null, signal: 9 },
    });
    // One sleep left in the namespace: the canary's.
    expect(z!.namespaceProcs().filter((p) => p.comm === "sleep")).toHaveLength(1);
    expect(z!.output).toContain("WARN service never killed by SIGKILL\n");
  });

  test("events: every transition of a crash loop in order, until max_restarts puts it in Failure", async () => {
    await bootAndMonitor({ crash: "exec: sh -c 'exit 1'\nmax_restarts: 3\n" });
    const failed = await events!.until(
      "crash in Failure",
      (e) => e.name === "crash" && e.state === "Failure",
    );
    // The snapshot came first (nothing monitored yet), then every change.
    expect(events!.items[0]).toEqual({ event: "snapshot", services: [] } as EventItem);
    const seen = events!.of("crash");
    const pids = seen.filter((e) => e.state === "Running").map((e) => e.pid);
    expect(new Set(pids).size).toBe(4);
    const [p1, p2, p3, p4] = pids;
    const exited = (pid: number | undefined) => `Error(Exited(Pid(${pid}), 1))`;
    expect(seen.map((e) => `${e.state} pid=${e.pid} ${e.phase} ${e.reason}`)).toEqual([
      "Unknown pid=0 starting starting",
      `Running pid=${p1} running ready`,
      // The first crash restarts at once; quick crashes after it back off.
      `${exited(p1)} pid=0 idle exited with code 1; restarting`,
      `${exited(p1)} pid=0 starting starting`,
      `Running pid=${p2} running ready`,
      `${exited(p2)} pid=0 backoff exited with code 1; restarting in 100 ms`,
      `${exited(p2)} pid=0 starting starting`,
      `Running pid=${p3} running ready`,
      `${exited(p3)} pid=0 backoff exited with code 1; restarting in 200 ms`,
      `${exited(p3)} pid=0 starting starting`,
      `Running pid=${p4} running ready`,
      "Failure pid=0 idle exited with code 1; gave up after 3 restarts within 60 s",
    ]);
    for (const e of seen.filter((e) => e.reason?.startsWith("exited"))) {
      expect(e.exit).toEqual({ code: 1, signal: null });
    }
    // Each item carries the daemon's wall-clock time: the backoff delays were waited out.
    const time = (i: number) => seen[i]!.time!;
    for (let i = 1; i < seen.length; i++) expect(time(i)).toBeGreaterThanOrEqual(time(i - 1));
    expect(time(6) - time(5)).toBeGreaterThanOrEqual(95);
    expect(time(9) - time(8)).toBeGreaterThanOrEqual(195);
    expect(failed.target).toBe("Up");

    // Given up on: Failure with target Up, not restarted, and says why.
    expect(await z!.status("crash")).toMatchObject({ state: "Failure", target: "Up", pid: 0 });
    expect(await inspect("crash")).toMatchObject({
      phase: "idle",
      restarts: 3,
      restarts_left: 0,
      next_restart_ms: null,
      reason: "exited with code 1; gave up after 3 restarts within 60 s",
    });
    expect(z!.output).toContain(
      "ERROR service crash exited with code 1; gave up after 3 restarts within 60 s ('zinit start crash' tries again)\n",
    );
  });

  test("zinit start resets a spent budget; start --wait returns 0 once Running, 1 when time runs out", async () => {
    const healthy = join("/tmp", `zinit-policies-healthy-${process.pid}`);
    Bun.spawnSync(["rm", "-f", healthy]);
    // Crashes at once until the flag file exists, then runs.
    await bootAndMonitor({
      flaky: `exec: sh -c 'test -e ${healthy} && exec sleep 1000; exit 1'\nmax_restarts: 2\n`,
      gated: "exec: sleep 1000\ntest: 'false'\n",
    });
    const gaveUp = (e: EventItem) => e.name === "flaky" && e.state === "Failure";
    await events!.until("flaky given up on", gaveUp);
    expect(await inspect("flaky")).toMatchObject({ restarts: 2, restarts_left: 0 });

    writeFileSync(healthy, "");
    try {
      const out = await cli(z!.socket, "start", "flaky", "--wait", "--timeout", "30");
      expect(out).toEqual({ code: 0, stdout: "", stderr: "" });
      expect((await z!.status("flaky")).state).toBe("Running");
      expect(await inspect("flaky")).toMatchObject({ phase: "running", restarts_left: 2 });
    } finally {
      Bun.spawnSync(["rm", "-f", healthy]);
    }
    // A fresh budget: killed now, it crash-loops through two restarts again before giving up.
    const before = events!.items.length;
    await z!.rpc("service_kill", ["flaky", "SIGKILL"]);
    await events!.until(
      "flaky given up on again",
      (e) => gaveUp(e) && events!.items.indexOf(e) >= before,
    );
    const again = events!.items.slice(before).filter((e) => e.name === "flaky");
    expect(again.filter((e) => e.phase === "starting")).toHaveLength(2);
    expect(z!.output.match(/gave up after 2 restarts within 60 s/g)).toHaveLength(2);

    // Its test never passes: start --wait gives up when --timeout runs out, exit 1.
    const t0 = performance.now();
    const late = await cli(z!.socket, "start", "gated", "--wait", "--timeout", "1");
    expect(performance.now() - t0).toBeGreaterThan(900);
    expect(late.code).toBe(1);
    expect(late.stdout).toBe("");
    expect(late.stderr).toMatch(
      /^zinit: timed out after 1 s waiting for services to be running: gated is Spawned \(test exited with code 1/,
    );
  });
});

AS_ROOT.describe("the stop command", () => {
  test("runs before the stop signal, which follows when it ends", async () => {
    z = await Zinit.boot({ services: {} });
    const marker = join(z.dir, "marker");
    writeFileSync(
      join(z.configDir, "svc.yaml"),
      [
        // Ready (its test passes) once the trap is set.
        `exec: sh -c 'trap "echo term >> $MARK; exit 0" TERM; touch $MARK.up; sleep 1000 & wait'`,
        `test: test -e ${marker}.up`,
        // Slow on purpose: the signal must wait for the command to end.
        `stop: sh -c 'echo stop >> $MARK; echo asked to stop; sleep 0.3; echo stop-done >> $MARK'`,
        "env:",
        `  MARK: ${marker}`,
        "",
      ].join("\n"),
    );
    expect((await cli(z.socket, "monitor", "svc")).code).toBe(0);
    expect((await cli(z.socket, "wait", "svc", "--timeout", "30")).code).toBe(0);
    expect(await cli(z.socket, "stop", "svc", "--wait", "--timeout", "30")).toEqual({
      code: 0,
      stdout: "",
      stderr: "",
    });
    // The command's two lines, then the service's own TERM trap.
    expect(readText(marker)).toBe("stop\nstop-done\nterm\n");
    // The trap's `exit 0` after SIGTERM is a clean exit.
    expect(await z.status("svc")).toMatchObject({ pid: 0, target: "Down", state: "Success" });
    expect(stoppedLines(z.output)).toEqual(["svc (stop command)"]);
    const log = await cli(z.socket, "log", "-s", "svc/stop");
    expect(log.stdout).toContain("[+] svc/stop: asked to stop\n");
  });
});
