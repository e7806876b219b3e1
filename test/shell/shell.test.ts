// The shell and the daemon over the fake Sys: spawning, restarts, stops that wait for every
// process, the ordered shutdown, readiness and spawn failures, with no process at all.

import { afterEach, describe, expect, test } from "bun:test";
import { type TestDaemon, testDaemon } from "../helpers/daemon.ts";
import { serviceConfig as cfg } from "../helpers/service-config.ts";

let t: TestDaemon | null = null;
afterEach(() => {
  t?.close();
  t = null;
});

const SIGTERM = 15;

describe("spawning", () => {
  test("argv, env over zinit's and /etc/environment, resolved dir, output in the ring", async () => {
    t = await testDaemon({
      files: { web: "exec: server --port 80\nenv: {MODE: prod}\ndir: srv\n" },
    });
    const p = t.sys.find("server");
    expect(p.argv).toEqual(["server", "--port", "80"]);
    expect(p.env).toMatchObject({ PATH: "/usr/bin:/bin", MODE: "prod" });
    expect(p.cwd).toBe(`${t.configDir}/srv`);
    t.sys.write(p.pid, "stdout", "hello\nwor");
    t.sys.write(p.pid, "stderr", "oops\n");
    t.sys.write(p.pid, "stdout", "ld\n");
    expect(t.daemon.logs("web")).toEqual([
      "[-] web: ------------ [start] ------------",
      "[+] web: hello",
      "[-] web: oops",
      "[+] web: world",
    ]);
    expect(t.daemon.list()).toEqual({ web: "Running" });
  });

  test("a crash restarts at once; the log line comes before the new [start] line", async () => {
    t = await testDaemon({ files: { w: "exec: worker\n" } });
    const first = t.sys.find("worker").pid;
    t.sys.exit(first, { kind: "exited", code: 3 });
    await t.sys.flush();
    const second = t.sys.find("worker").pid;
    expect(second).not.toBe(first);
    const ring = t.ring.snapshot();
    const exitLine = ring.indexOf("[-] zinit: service w exited with code 3; restarting");
    expect(exitLine).toBeGreaterThan(0);
    expect(ring.slice(exitLine + 1)).toEqual(["[-] w: ------------ [start] ------------"]);
  });

  test("a spawn that fails (EMFILE) is a spawn failure, retried with backoff, and re-armed", async () => {
    t = await testDaemon({ load: false });
    t.write("x.yaml", "exec: worker\n");
    const emfile = { match: (argv: string[]) => argv[0] === "worker", errno: 24 };
    t.sys.failures.push({ ...emfile, error: "pipe2: Too many open files (os error 24)" });
    t.sys.failures.push({ ...emfile, error: "pipe2: Too many open files (os error 24)" });
    await t.daemon.monitor("x");
    await t.sys.flush();
    expect(t.daemon.list()).toEqual({ x: "Failure" });
    expect(t.said).toContain(
      "ERROR service x failed to start: pipe2: Too many open files (os error 24); restarting in 100 ms",
    );
    await t.sys.advance(100);
    expect(t.said.at(-1)).toContain("restarting in 200 ms");
    await t.sys.advance(200);
    expect(t.daemon.list()).toEqual({ x: "Running" });
  });
});

describe("stop", () => {
  test("waits for a setsid grandchild; drains the moment the last process is reaped", async () => {
    t = await testDaemon({ files: { svc: "exec: sh\nshutdown_timeout: 10\n" } });
    const sh = t.sys.find("sh");
    const escaped = t.sys.fork(sh.pid, { setsid: true, argv: ["daemon"] });
    escaped.reactions.set(SIGTERM, "ignore");
    let stopped = false;
    void t.daemon.stop("svc").then(() => {
      stopped = true;
    });
    await t.sys.flush();
    // Both got the stop signal: the group, and the member that left it.
    expect(sh.signals).toEqual([SIGTERM]);
    expect(escaped.signals).toEqual([SIGTERM]);
    expect(stopped).toBe(false);
    expect(t.daemon.status("svc")).toMatchObject({ pid: 0, target: "Down" });
    // The escapee ends on its own 3 s later: the stop completes then, not at the SIGKILL timeout.
    await t.sys.advance(3_000);
    t.sys.exit(escaped.pid, { kind: "exited", code: 0 });
    await t.sys.flush();
    expect(stopped).toBe(true);
    expect(t.said).toContain("INFO stopped svc in 3.00 s (SIGTERM)");
    expect(t.sys.pendingTimers()).toEqual([]);
  });

  test("a process that ignores SIGTERM gets SIGKILL after shutdown_timeout", async () => {
    t = await testDaemon({ files: { svc: "exec: stubborn\nshutdown_timeout: 2\n" } });
    const p = t.sys.find("stubborn");
    p.reactions.set(SIGTERM, "ignore");
    const done = t.daemon.stop("svc");
    await t.sys.advance(1_999);
    expect(p.signals).toEqual([SIGTERM]);
    await t.sys.advance(1);
    expect(p.signals).toEqual([SIGTERM, 9]);
    await done;
    expect(t.said).toContain("WARN service svc did not stop in 2 s: sending SIGKILL");
  });
});

describe("shutdown", () => {
  test("in reverse dependency order; a dependent that already exited does not stall it", async () => {
    t = await testDaemon({
      files: {
        base: "exec: base\n",
        mid: "exec: mid\nafter: [base]\n",
        top: "exec: top\nafter: [mid]\n",
        solo: "exec: solo\n",
      },
    });
    for (const name of ["base", "mid", "top", "solo"])
      t.sys.find(name).reactions.set(SIGTERM, "ignore");
    const order = t.sys.signalLog;
    // mid's process is already gone when the shutdown begins.
    t.sys.exit(t.sys.find("mid").pid, { kind: "exited", code: 0 });
    t.daemon.shutdown(false);
    await t.sys.flush();
    expect(order).toEqual(["solo:15", "top:15"]);
    t.sys.exit(t.sys.find("top").pid, { kind: "signaled", signal: 15, core: false });
    await t.sys.flush();
    // mid has nothing left: base is next, at once.
    expect(order).toEqual(["solo:15", "top:15", "base:15"]);
    t.sys.exit(t.sys.find("solo").pid, { kind: "signaled", signal: 15, core: false });
    t.sys.exit(t.sys.find("base").pid, { kind: "signaled", signal: 15, core: false });
    await t.sys.flush();
    expect(t.powered).toEqual([{ mode: "exit", exitCode: 0 }]);
  });
});

describe("readiness", () => {
  test("notify fd: a newline on READY_FD makes the service Running and releases dependents", async () => {
    t = await testDaemon();
    const core = t.shell.core;
    const db = cfg({ exec: "db", argv: ["db"], dir: "/", notify: { kind: "fd", fd: 3 } });
    const app = cfg({ exec: "app", argv: ["app"], dir: "/", after: ["db"] });
    t.shell.command((now) =>
      core.monitorAll(
        new Map([
          ["db", db],
          ["app", app],
        ]),
        now,
      ),
    );
    await t.sys.flush();
    const p = t.sys.find("db");
    expect(p.env.READY_FD).toBe("3");
    expect(p.extraFd?.fd).toBe(3);
    expect(t.daemon.list()).toEqual({ app: "Blocked", db: "Spawned" });
    t.sys.notifyFd(p.pid, "ready\n");
    await t.sys.flush();
    expect(t.daemon.list()).toEqual({ app: "Running", db: "Running" });
  });
});

describe("readiness by probes and notification", () => {
  const monitor = (t: TestDaemon, name: string, over: Parameters<typeof cfg>[0]) => {
    const core = t.shell.core;
    const config = cfg({ exec: name, argv: [name], dir: "/", ...over });
    t.shell.command((now) => core.monitor(name, config, now));
  };

  test("sd_notify: READY=1 from the service's process; STATUS shown; strangers ignored", async () => {
    t = await testDaemon();
    monitor(t, "db", { notify: { kind: "systemd" } });
    await t.sys.flush();
    const p = t.sys.find("db");
    const path = p.env.NOTIFY_SOCKET ?? "";
    expect(path.startsWith("/run/zinit-test/notify/")).toBe(true);
    t.sys.sendNotify(path, 4242, "READY=1");
    await t.sys.flush();
    expect(t.daemon.list()).toEqual({ db: "Spawned" });
    expect(t.said.at(-1)).toBe(
      "WARN service db: ignored a notification from pid 4242, not one of its processes",
    );
    // A helper the service runs (systemd-notify in a script) is one of its processes.
    const helper = t.sys.fork(p.pid, { argv: ["systemd-notify"] });
    t.sys.sendNotify(path, helper.pid, "STATUS=warming up\nREADY=1\n");
    await t.sys.flush();
    expect(t.daemon.list()).toEqual({ db: "Running" });
    expect(t.daemon.inspect("db").status_text).toBe("warming up");
  });

  test("MAINPID: a forking daemon's child becomes the main process; only the service's own pids", async () => {
    t = await testDaemon();
    monitor(t, "d", { notify: { kind: "systemd" }, stabilityPeriodMs: 0 });
    await t.sys.flush();
    const parent = t.sys.find("d");
    const path = parent.env.NOTIFY_SOCKET ?? "";
    t.write("other", "exec: other\n");
    await t.daemon.monitor("other");
    await t.sys.flush();
    const stranger = t.sys.find("other").pid;
    t.sys.sendNotify(path, parent.pid, `MAINPID=${stranger}`);
    t.sys.sendNotify(path, parent.pid, "MAINPID=4242\nSTATUS=still here");
    await t.sys.flush();
    expect(t.said).toContain(
      `WARN service d: ignored MAINPID="${stranger}" from pid ${parent.pid}: not one of its processes`,
    );
    expect(t.said).toContain(
      `WARN service d: ignored MAINPID="4242" from pid ${parent.pid}: not one of its processes`,
    );
    // The rest of a datagram with a refused MAINPID still counts.
    expect(t.daemon.inspect("d")).toMatchObject({ pid: parent.pid, status_text: "still here" });
    // The daemon forks into its own session, says so and exits: the child is the service now.
    const child = t.sys.fork(parent.pid, { setsid: true, argv: ["d-worker"] });
    t.sys.sendNotify(path, parent.pid, `MAINPID=${child.pid}\nREADY=1`);
    t.sys.exit(parent.pid, { kind: "exited", code: 0 });
    await t.sys.flush();
    expect(t.daemon.list()).toMatchObject({ d: "Running" });
    expect(t.daemon.status("d").pid).toBe(child.pid);
    // Its own workers are the service's too (its session), though it left the first one.
    const worker = t.sys.fork(child.pid, { argv: ["d-worker-2"] });
    expect(
      t.shell
        .members("d")
        .map((p) => p.pid)
        .sort(),
    ).toEqual([child.pid, worker.pid]);
    t.sys.exit(child.pid, { kind: "exited", code: 2 });
    await t.sys.flush();
    expect(t.said).toContain("WARN service d exited with code 2; restarting");
    expect(t.sys.find("d").pid).not.toBe(parent.pid);
  });

  test("MAINPID of a child its parent reaps (a wrapper script): the parent's exit ends the run", async () => {
    t = await testDaemon();
    monitor(t, "w", { notify: { kind: "systemd" }, restart: "never" });
    await t.sys.flush();
    const wrapper = t.sys.find("w");
    const path = wrapper.env.NOTIFY_SOCKET ?? "";
    const daemon = t.sys.fork(wrapper.pid, { argv: ["daemon"] });
    t.sys.sendNotify(path, wrapper.pid, `READY=1\nMAINPID=${daemon.pid}`);
    await t.sys.flush();
    expect(t.daemon.status("w")).toMatchObject({ pid: daemon.pid, state: "Running" });
    // kill signals the main process's group; this one leads none, so it gets the signal itself.
    daemon.reactions.set(10, "ignore");
    t.daemon.kill("w", "SIGUSR1");
    expect(daemon.signals).toEqual([10]);
    expect(wrapper.signals).toEqual([]);
    // The fake reaps a child whose parent lives on out of our sight, as its parent would.
    t.sys.exit(daemon.pid, { kind: "exited", code: 5 });
    await t.sys.flush();
    expect(t.daemon.list()).toEqual({ w: "Running" });
    t.sys.exit(wrapper.pid, { kind: "exited", code: 5 });
    await t.sys.flush();
    expect(t.daemon.list()).toEqual({ w: `Error(Exited(Pid(${daemon.pid}), 5))` });
  });

  test("tcp probe: retried until it connects, then Running", async () => {
    t = await testDaemon();
    let open = false;
    t.sys.tcp = async (req) =>
      open && req.port === 6379
        ? { ok: true, reply: new Uint8Array() }
        : { ok: false, error: "ECONNREFUSED" };
    monitor(t, "redis", {
      ready: {
        check: { kind: "tcp", host: "127.0.0.1", port: 6379 },
        intervalMs: 200,
        timeoutMs: 1000,
      },
    });
    await t.sys.flush();
    expect(t.daemon.list()).toEqual({ redis: "Spawned" });
    expect(t.said.at(-1)).toBe(
      "WARN service redis: readiness check: connect 127.0.0.1:6379: ECONNREFUSED (attempt 1); retrying in 200 ms",
    );
    open = true;
    await t.sys.advance(200);
    expect(t.daemon.list()).toEqual({ redis: "Running" });
  });

  test("http probe: the status decides; the request is a real GET", async () => {
    t = await testDaemon();
    const requests: string[] = [];
    let status = 503;
    t.sys.tcp = async (req) => {
      requests.push(new TextDecoder().decode(req.request ?? new Uint8Array()));
      const reply = new TextEncoder().encode(`HTTP/1.1 ${status} X\r\nContent-Length: 0\r\n\r\n`);
      expect(req.enough(reply)).toBe(true);
      return { ok: true, reply };
    };
    monitor(t, "web", {
      ready: {
        check: {
          kind: "http",
          url: "http://127.0.0.1:8081/healthz?x=1",
          status: { min: 200, max: 299 },
        },
        intervalMs: 100,
        timeoutMs: 1000,
      },
    });
    await t.sys.flush();
    expect(requests[0]).toBe(
      "GET /healthz?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8081\r\nUser-Agent: zinit-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n",
    );
    expect(t.daemon.inspect("web").check_failure).toBe(
      "readiness check: GET http://127.0.0.1:8081/healthz?x=1: status 503 (attempt 1); retrying in 100 ms",
    );
    status = 204;
    await t.sys.advance(100);
    expect(t.daemon.list()).toEqual({ web: "Running" });
  });

  test("log probe: a matching output line makes it Running, even one printed before the probe", async () => {
    t = await testDaemon();
    monitor(t, "app", {
      ready: {
        check: { kind: "log", pattern: "listening on :\\d+" },
        intervalMs: null,
        timeoutMs: 1000,
      },
    });
    await t.sys.flush();
    const p = t.sys.find("app");
    t.sys.write(p.pid, "stdout", "booting\n");
    await t.sys.flush();
    expect(t.daemon.list()).toEqual({ app: "Spawned" });
    t.sys.write(p.pid, "stderr", "listening on :8080\n");
    await t.sys.flush();
    expect(t.daemon.list()).toEqual({ app: "Running" });
  });

  test("log probes at both levels: each its own pattern; liveness needs a match per period", async () => {
    t = await testDaemon();
    monitor(t, "app", {
      ready: { check: { kind: "log", pattern: "^ready$" }, intervalMs: null, timeoutMs: 1000 },
      live: {
        check: { kind: "log", pattern: "heartbeat \\d+" },
        intervalMs: 1_000,
        timeoutMs: 1_000,
        failureThreshold: 2,
      },
      stabilityPeriodMs: 0,
    });
    await t.sys.flush();
    const first = t.sys.find("app").pid;
    // A heartbeat does not make it ready; it still counts for the first liveness check.
    t.sys.write(first, "stdout", "heartbeat 1\n");
    await t.sys.flush();
    expect(t.daemon.list()).toEqual({ app: "Spawned" });
    t.sys.write(first, "stdout", "ready\n");
    await t.sys.flush();
    expect(t.daemon.list()).toEqual({ app: "Running" });
    await t.sys.advance(1_000);
    expect(t.daemon.inspect("app").probes.live.failures).toBe(0);
    // Lines that match only the readiness pattern do not keep it alive.
    t.sys.write(first, "stdout", "ready\n");
    await t.sys.advance(1_000);
    expect(t.daemon.inspect("app").probes.live.failures).toBe(1);
    expect(t.said).toContain(
      "WARN service app: liveness check: no output line matched since the previous check (1 of 2)",
    );
    t.sys.write(first, "stderr", "heartbeat 2\n");
    await t.sys.advance(1_000);
    expect(t.daemon.inspect("app").probes.live.failures).toBe(1);
    // Two silent periods in a row: the run ends and the service starts again.
    await t.sys.advance(2_000);
    expect(t.said).toContain(
      "WARN service app: liveness check: no output line matched since the previous check (2 of 2 in a row); stopping it",
    );
    const second = t.sys.find("app").pid;
    expect(second).not.toBe(first);
    expect(t.daemon.list()).toEqual({ app: "Spawned" });
  });
});

describe("waits and events", () => {
  test("wait for running resolves when ready, fails fast when the service fails for good", async () => {
    t = await testDaemon({ files: { web: "exec: web\ntest: check\n" } });
    const waiting = t.daemon.wait(["web"], "running", 0);
    let settled = false;
    void waiting.then(() => {
      settled = true;
    });
    await t.sys.flush();
    expect(settled).toBe(false);
    t.sys.exit(t.sys.find("check").pid, { kind: "exited", code: 0 });
    await t.sys.flush();
    expect(await waiting).toEqual({
      ok: true,
      why: "met",
      services: { web: { state: "Running", met: true, reason: "ready" } },
    });
    // A oneshot that fails can never be running: the wait ends at once with why.
    t.write("job", "exec: job\noneshot: true\n");
    await t.daemon.monitor("job");
    await t.sys.flush();
    const job = t.daemon.wait(["job"], "running", 0);
    t.sys.exit(t.sys.find("job").pid, { kind: "exited", code: 2 });
    await t.sys.flush();
    expect(await job).toMatchObject({
      ok: false,
      why: "failed",
      services: { job: { met: false } },
    });
  });

  test("wait times out, saying which service is not there yet", async () => {
    t = await testDaemon({ files: { a: "exec: a\n", b: "exec: b\ntest: check\n" } });
    const waiting = t.daemon.wait(["a", "b"], "running", 5_000);
    await t.sys.advance(5_000);
    expect(await waiting).toMatchObject({
      ok: false,
      why: "timeout",
      services: { a: { met: true }, b: { met: false, state: "Spawned" } },
    });
    expect(() => t?.daemon.wait(["nope"], "running", 0)).toThrow("service 'nope' not found");
  });

  test("events: a snapshot, then every change of a crash loop in order, nothing in between lost", async () => {
    t = await testDaemon({ files: { c: "exec: crash\n" } });
    const seen: string[] = [];
    const { snapshot, unsubscribe } = t.daemon.subscribeEvents((e) =>
      seen.push(e.event === "change" ? `${e.time} ${e.state} ${e.reason}` : `${e.time} ${e.event}`),
    );
    const start = t.sys.wall;
    expect(snapshot.map((e) => `${e.time} ${e.name} ${e.state}`)).toEqual([`${start} c Running`]);
    for (let i = 0; i < 3; i++) {
      t.sys.exit(t.sys.find("crash").pid, { kind: "exited", code: 1 });
      // Each run is shorter than the stability period (1 s): the crash loop backs off.
      await t.sys.advance(500);
    }
    await t.settle(t.daemon.stop("c"));
    t.daemon.forget("c");
    unsubscribe();
    // Stamped with the wall clock of the moment the shell carried each change out.
    const at = (ms: number) => start + ms;
    expect(seen).toEqual([
      `${at(0)} Error(Exited(Pid(100), 1)) exited with code 1; restarting`,
      `${at(0)} Error(Exited(Pid(100), 1)) starting`,
      `${at(0)} Running ready`,
      `${at(500)} Error(Exited(Pid(101), 1)) exited with code 1; restarting in 100 ms`,
      `${at(600)} Error(Exited(Pid(101), 1)) starting`,
      `${at(600)} Running ready`,
      `${at(1000)} Error(Exited(Pid(102), 1)) exited with code 1; restarting in 200 ms`,
      `${at(1200)} Error(Exited(Pid(102), 1)) starting`,
      `${at(1200)} Running ready`,
      `${at(1500)} Running stopping`,
      `${at(1500)} Error(Signaled(Pid(103), SIGTERM, false)) stopping`,
      `${at(1500)} Error(Signaled(Pid(103), SIGTERM, false)) stopped`,
      `${at(1500)} forgotten`,
    ]);
  });

  test("current(): what subscribers were last told of each service, later", async () => {
    t = await testDaemon({ files: { a: "exec: a\n" } });
    const { snapshot, current, unsubscribe } = t.daemon.subscribeEvents(() => {});
    expect(snapshot.map((v) => `${v.name} ${v.state}`)).toEqual(["a Running"]);
    t.write("b", "exec: b\n");
    await t.daemon.monitor("b");
    await t.settle(t.daemon.stop("a"));
    expect(current().map((v) => `${v.name} ${v.state} ${v.target}`)).toEqual([
      "a Error(Signaled(Pid(100), SIGTERM, false)) Down",
      "b Running Up",
    ]);
    unsubscribe();
  });

  test("a wait ends when its service is forgotten, or when its client goes away", async () => {
    t = await testDaemon({ files: { job: "exec: job\noneshot: true\n", b: "exec: b\n" } });
    t.sys.exit(t.sys.find("job").pid, { kind: "exited", code: 0 });
    await t.sys.flush();
    // A oneshot that succeeded has not failed, and never will on its own.
    const never = t.daemon.wait(["job"], "failed", 0);
    await t.settle(t.daemon.stop("job"));
    t.daemon.forget("job");
    expect(await never).toEqual({
      ok: false,
      why: "failed",
      services: { job: { state: "Unknown", met: false, reason: "forgotten" } },
    });
    const cancel = new AbortController();
    const abandoned = t.daemon.wait(["b"], "stopped", 0, cancel.signal);
    cancel.abort(new Error("client gone"));
    await expect(abandoned).rejects.toThrow("client gone");
    await expect(t.daemon.wait(["b"], "stopped", 0, cancel.signal)).rejects.toThrow("client gone");
  });
});

describe("a long batch", () => {
  test("spawns are sliced; a shutdown mid-batch cancels the spawns still queued", async () => {
    t = await testDaemon({ load: false });
    t.sys.spawnCostMs = 2; // one 5 ms slice holds three spawns
    const core = t.shell.core;
    const configs = new Map<string, ReturnType<typeof cfg>>();
    for (let i = 0; i < 100; i++)
      configs.set(`s${i}`, cfg({ exec: "sleep", argv: ["sleep"], dir: "/" }));
    t.shell.command((now) => core.monitorAll(configs, now));
    // The first slice ran; the rest waits for the event loop.
    const spawnedBefore = t.sys.spawns.length;
    expect(spawnedBefore).toBeGreaterThan(0);
    expect(spawnedBefore).toBeLessThan(10);
    t.daemon.shutdown(false);
    await t.sys.flush();
    // Only what was spawned before the shutdown was: it is stopped, and zinit exits.
    expect(t.sys.spawns.length).toBe(spawnedBefore);
    expect(t.powered).toEqual([{ mode: "exit", exitCode: 0 }]);
  });
});
