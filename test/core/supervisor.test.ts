import { describe, expect, test } from "bun:test";
import { ZinitError } from "../../src/core/errors.ts";
import { TEST_TIMEOUT_MS } from "../../src/core/policy.ts";
import { Core, code, killedBy, logs, ofType, signalled, spawns } from "./harness.ts";

describe("start order", () => {
  test("after: dependents wait for Running deps and oneshot Success", () => {
    const c = new Core();
    const eff = c.monitor({
      web: { after: ["db", "migrate"] },
      db: {},
      migrate: { oneshot: true, after: ["db"] },
    });
    expect(spawns(eff)).toEqual(["db:main"]);
    // Unknown until the shell reports the spawn.
    expect(c.s.list()).toEqual({ db: "Unknown", migrate: "Blocked", web: "Blocked" });
    expect(spawns(c.spawned("db", 10, 1))).toEqual(["migrate:main"]);
    expect(c.state("db")).toBe("Running");
    // A oneshot that is still running does not satisfy its dependents.
    expect(spawns(c.spawned("migrate", 11, 2))).toEqual([]);
    expect(c.state("migrate")).toBe("Running");
    expect(spawns(c.exited(11, code(0), 3))).toEqual(["web:main"]);
    expect(c.s.status("web")).toEqual({
      name: "web",
      pid: 0,
      state: "Unknown", // starting: never run yet, until the shell reports the spawn
      target: "Up",
      after: { db: "Running", migrate: "Success" },
    });
  });

  test("a failed oneshot blocks its dependents and says why", () => {
    const c = new Core();
    c.monitor({ m: { oneshot: true }, w: { after: ["m"] } });
    c.spawned("m", 5, 0);
    const eff = c.exited(5, code(3), 1);
    expect(spawns(eff)).toEqual([]);
    expect(c.s.list()).toEqual({ m: "Error(Exited(Pid(5), 3))", w: "Blocked" });
    expect(logs(eff)).toContain("service w is waiting for 'm' (failed: Error(Exited(Pid(5), 3)))");
  });

  test("unknown dependency: blocked and reported, others unaffected", () => {
    const c = new Core();
    const eff = c.monitor({ a: { after: ["ghost"] }, b: {} });
    expect(spawns(eff)).toEqual(["b:main"]);
    expect(logs(eff)).toContain("service a is waiting for 'ghost' (not a known service)");
    expect(c.s.status("a").after).toEqual({ ghost: "Unknown" });
    // Monitoring the missing dependency later unblocks it (upstream never re-checks here).
    c.monitor({ ghost: {} }, 1);
    expect(spawns(c.spawned("ghost", 7, 2))).toEqual(["a:main"]);
  });

  test("cycles are reported with their path and do not block others", () => {
    const c = new Core();
    const eff = c.monitor({ a: { after: ["b"] }, b: { after: ["a"] }, c: {}, d: { after: ["d"] } });
    expect(spawns(eff)).toEqual(["c:main"]);
    expect(logs(eff)).toContain("dependency cycle: a -> b -> a");
    expect(logs(eff)).toContain("dependency cycle: d -> d");
  });

  test("a 20,000-service chain starts in order without recursion", () => {
    const c = new Core();
    const n = 20_000;
    const services: Record<string, { after?: string[] }> = {};
    for (let i = 0; i < n; i++) services[`s${i}`] = i === 0 ? {} : { after: [`s${i - 1}`] };
    expect(spawns(c.monitor(services))).toEqual(["s0:main"]);
    for (let i = 0; i < n; i++) {
      const next = spawns(c.spawned(`s${i}`, 1000 + i, i));
      expect(next).toEqual(i + 1 < n ? [`s${i + 1}:main`] : []);
    }
  });
});

describe("test gating", () => {
  test("Spawned until the test passes; failures retry with backoff, not a busy loop", () => {
    const c = new Core();
    c.monitor({ web: { test: "check", testArgv: ["check"] }, w: { after: ["web"] } });
    expect(spawns(c.spawned("web", 20, 0))).toEqual(["web:ready"]);
    expect(c.state("web")).toBe("Spawned");
    const t1 = c.spawned("web", 21, 0, "ready");
    expect(ofType(t1, "timer")).toEqual([
      { type: "timer", name: "web", kind: "readyTimeout", ms: TEST_TIMEOUT_MS },
    ]);
    const fail = c.exited(21, code(1), 1);
    expect(ofType(fail, "timer")).toEqual([{ type: "timer", name: "web", kind: "ready", ms: 50 }]);
    expect(logs(fail)).toEqual([
      "service web: test exited with code 1 (attempt 1); retrying in 50 ms",
    ]);
    expect(spawns(c.timer("web", "ready", 60))).toEqual(["web:ready"]);
    c.spawned("web", 22, 60, "ready");
    const fail2 = c.exited(22, code(1), 70);
    expect(ofType(fail2, "timer")[0]).toMatchObject({ kind: "ready", ms: 100 });
    // The same failure again is not logged again (first failure, on change, or every 30 s).
    expect(logs(fail2)).toEqual([]);
    c.timer("web", "ready", 200);
    c.spawned("web", 23, 200, "ready");
    const pass = c.exited(23, code(0), 210);
    expect(spawns(pass)).toEqual(["w:main"]);
    expect(logs(pass)).toContain("service web: test passed");
    expect(c.state("web")).toBe("Running");
  });

  test("inspect counts failed checks across runs and times the last one", () => {
    const c = new Core();
    c.monitor({ web: { test: "check", testArgv: ["check"] }, job: { oneshot: true } });
    c.spawned("web", 20, 0);
    const none = { failures: 0, last_duration_ms: null };
    expect(c.s.inspect("web", 0).probes).toEqual({ ready: none, live: none });
    c.spawned("web", 21, 0, "ready");
    c.exited(21, code(1), 30);
    expect(c.s.inspect("web", 30).probes.ready).toEqual({ failures: 1, last_duration_ms: 30 });
    c.timer("web", "ready", 100);
    c.spawned("web", 22, 100, "ready");
    c.exited(22, code(0), 104);
    expect(c.state("web")).toBe("Running");
    expect(c.s.inspect("web", 104).probes.ready).toEqual({ failures: 1, last_duration_ms: 4 });
    expect(c.s.inspect("web", 104).ready).toBe(true);
    // A new run starts its checks afresh, but the counts are since the service was monitored.
    expect(spawns(c.exited(20, code(1), 20_000))).toEqual(["web:main"]);
    // Between runs nothing is ready, whatever the last run reached.
    expect(c.s.inspect("web", 20_000).ready).toBe(false);
    expect(c.s.view("web").ready).toBe(false);
    c.spawned("web", 23, 20_000);
    c.spawned("web", 24, 20_000, "ready");
    c.exited(24, code(3), 20_010);
    expect(c.s.inspect("web", 20_010).probes).toEqual({
      ready: { failures: 2, last_duration_ms: 10 },
      live: none,
    });
    expect(c.s.inspect("web", 0).oneshot).toBe(false);
    expect(c.s.inspect("job", 0).oneshot).toBe(true);
  });

  test("a failing test is reported again when its reason changes, or after 30 s", () => {
    const c = new Core();
    c.monitor({ web: { test: "check", testArgv: ["check"] } });
    c.spawned("web", 20, 0);
    let now = 0;
    let pid = 21;
    const attempt = (status: ReturnType<typeof code>) => {
      c.timer("web", "ready", now);
      c.spawned("web", pid, now, "ready");
      return logs(c.exited(pid++, status, now));
    };
    c.spawned("web", pid, now, "ready");
    expect(logs(c.exited(pid++, code(1), now))).toHaveLength(1);
    now += 1_000;
    expect(attempt(code(1))).toEqual([]);
    now += 1_000;
    expect(attempt(code(2))).toEqual([
      "service web: test exited with code 2 (attempt 3); retrying in 200 ms",
    ]);
    now += 31_000;
    expect(attempt(code(2))).toHaveLength(1);
    expect(c.s.inspect("web", now).check_failure).toMatch(/^test exited with code 2 \(attempt 4\)/);
  });

  test("a test that cannot be spawned sets TestFailure and retries later", () => {
    const c = new Core();
    c.monitor({ web: { test: "nope", testArgv: ["nope"] } });
    c.spawned("web", 30, 0);
    const eff = c.spawnFailed("web", "No such file or directory (os error 2)", 1, "ready");
    expect(c.state("web")).toBe("TestFailure");
    expect(spawns(eff)).toEqual([]);
    expect(ofType(eff, "timer")).toEqual([{ type: "timer", name: "web", kind: "ready", ms: 50 }]);
  });

  test("a hung test is killed at the timeout", () => {
    const c = new Core();
    c.monitor({ web: { test: "hang", testArgv: ["hang"] } });
    c.spawned("web", 40, 0);
    c.spawned("web", 41, 0, "ready");
    expect(ofType(c.timer("web", "readyTimeout", TEST_TIMEOUT_MS), "killGroup")).toEqual([
      { type: "killGroup", name: "web", role: "ready", pid: 41, signal: 9 },
    ]);
  });

  test("the test is killed when the main process exits", () => {
    const c = new Core();
    c.monitor({ web: { test: "t", testArgv: ["t"] } });
    c.spawned("web", 50, 0);
    c.spawned("web", 51, 0, "ready");
    const eff = c.exited(50, killedBy(9), 5);
    expect(ofType(eff, "killGroup")).toEqual([
      { type: "killGroup", name: "web", role: "ready", pid: 51, signal: 9 },
    ]);
    expect(spawns(eff)).toEqual(["web:main"]);
    // The exit state stays visible until the immediate respawn is reported.
    expect(c.state("web")).toBe("Error(Signaled(Pid(50), SIGKILL, false))");
    // Ring lines in causal order: the exit is logged before the respawn.
    const kinds = eff.filter((e) => e.type === "log" || e.type === "spawn").map((e) => e.type);
    expect(kinds).toEqual(["log", "spawn"]);
  });

  test("oneshots ignore test, with a warning", () => {
    const c = new Core();
    const eff = c.monitor({ o: { oneshot: true, test: "t", testArgv: ["t"] } });
    expect(logs(eff)).toContain("service o: 'test' is ignored for oneshot services");
    expect(spawns(c.spawned("o", 5, 0))).toEqual([]);
    expect(c.state("o")).toBe("Running");
  });
});

describe("restart", () => {
  test("immediate after a stable run, then exponential backoff capped at 2 s", () => {
    const c = new Core();
    c.monitor({ svc: {} });
    c.spawned("svc", 100, 0);
    // Ran 60 s: stable, immediate restart.
    let eff = c.exited(100, code(1), 60_000);
    expect(spawns(eff)).toEqual(["svc:main"]);
    expect(c.state("svc")).toBe("Error(Exited(Pid(100), 1))");
    const delays: number[] = [];
    let pid = 101;
    let now = 60_000;
    for (let i = 0; i < 8; i++) {
      c.spawned("svc", pid, now);
      eff = c.exited(pid++, code(1), now + 10);
      const timer = ofType(eff, "timer").find((t) => t.kind === "restart");
      expect(timer).toBeDefined();
      delays.push(timer?.ms ?? 0);
      now += 10 + (timer?.ms ?? 0);
      expect(spawns(c.timer("svc", "restart", now))).toEqual(["svc:main"]);
    }
    expect(delays).toEqual([100, 200, 400, 800, 1600, 2000, 2000, 2000]);
  });

  test("exit 0 also restarts a non-oneshot; oneshots never restart", () => {
    const c = new Core();
    c.monitor({ a: {}, o: { oneshot: true } });
    c.spawned("a", 1, 0);
    c.spawned("o", 2, 0);
    expect(spawns(c.exited(1, code(0), 20_000))).toEqual(["a:main"]);
    expect(spawns(c.exited(2, code(0), 20_000))).toEqual([]);
    expect(c.state("o")).toBe("Success");
    // start() runs a finished oneshot again.
    expect(spawns(c.s.start("o", 20_001))).toEqual(["o:main"]);
  });

  test("a spawn failure is retried with backoff and keeps the errno text", () => {
    const c = new Core();
    c.monitor({ x: { exec: "/nope", argv: ["/nope"] } });
    const eff = c.spawnFailed("x", "No such file or directory (os error 2)", 0);
    expect(c.state("x")).toBe("Failure");
    expect(logs(eff)).toEqual([
      "service x failed to start: No such file or directory (os error 2); restarting in 100 ms",
    ]);
    expect(spawns(c.timer("x", "restart", 100))).toEqual(["x:main"]);
    const eff2 = c.spawnFailed("x", "again", 100);
    expect(ofType(eff2, "timer")[0]).toMatchObject({ kind: "restart", ms: 200 });
  });

  test("start() cuts a backoff short", () => {
    const c = new Core();
    c.monitor({ x: {} });
    c.spawned("x", 9, 0);
    c.exited(9, code(1), 1); // immediate (first)
    c.spawned("x", 10, 1);
    const eff = c.exited(10, code(1), 2);
    expect(ofType(eff, "timer")[0]).toMatchObject({ kind: "restart", ms: 100 });
    expect(c.s.inspect("x", 50).next_restart_ms).toBe(52);
    expect(spawns(c.s.start("x", 3))).toEqual(["x:main"]);
  });
});

describe("stop", () => {
  test("signal, wait, SIGKILL after shutdown_timeout, final when drained", () => {
    const c = new Core();
    c.monitor({ svc: { shutdownTimeout: 3, stopSignal: 2 } });
    c.spawned("svc", 70, 0);
    const eff = c.s.stop("svc", 1);
    expect(ofType(eff, "signal")).toEqual([{ type: "signal", name: "svc", pid: 70, signal: 2 }]);
    expect(ofType(eff, "timer")).toEqual([{ type: "timer", name: "svc", kind: "kill", ms: 3000 }]);
    const kill = c.timer("svc", "kill", 3001);
    expect(signalled(kill)).toEqual(["svc:9"]);
    // The main process is gone, but a grandchild is not: not stopped yet.
    expect(ofType(c.exited(70, killedBy(9), 3002), "stopped")).toEqual([]);
    expect(c.s.status("svc")).toMatchObject({
      pid: 0,
      state: "Error(Signaled(Pid(70), SIGKILL, false))",
      target: "Down",
    });
    expect(() => c.s.forget("svc", 3002)).toThrow(ZinitError);
    const done = c.drained("svc", 3003);
    expect(ofType(done, "stopped")).toEqual([{ type: "stopped", name: "svc" }]);
    expect(logs(done)).toEqual(["stopped svc in 3.00 s (SIGKILL)"]);
    expect(spawns(done)).toEqual([]);
    c.s.forget("svc", 3004);
    expect(c.s.has("svc")).toBe(false);
  });

  test("stop of a service with no process still sweeps leftovers", () => {
    const c = new Core();
    c.monitor({ o: { oneshot: true } });
    c.spawned("o", 80, 0);
    c.exited(80, code(0), 1);
    const eff = c.s.stop("o", 2);
    expect(ofType(eff, "signal")).toHaveLength(1);
    const done = c.drained("o", 3);
    expect(ofType(done, "stopped")).toHaveLength(1);
    // A sweep of a stopped service is not narrated.
    expect(logs(done)).toEqual([]);
    expect(c.s.status("o")).toMatchObject({ state: "Success", target: "Down" });
  });

  test("stopping a finished oneshot leaves no timer armed", () => {
    const c = new Core();
    c.monitor({ o: { oneshot: true } });
    c.spawned("o", 80, 0);
    c.exited(80, code(0), 1);
    const all = [...c.s.stop("o", 2), ...c.drained("o", 3)];
    const armed = new Set<string>();
    for (const e of all) {
      if (e.type === "timer") armed.add(`${e.name}:${e.kind}`);
      if (e.type === "cancelTimer") armed.delete(`${e.name}:${e.kind}`);
    }
    expect([...armed]).toEqual([]);
  });

  test("errors: unknown service, kill of a down service", () => {
    const c = new Core();
    expect(() => c.s.stop("nope", 0)).toThrow("service 'nope' not found");
    c.monitor({ a: { after: ["b"] } });
    expect(() => c.s.requireRunning("a")).toThrow("service 'a' is down");
    expect(() => c.s.monitor("a", c.s.config("a"), 0)).toThrow("service 'a' already monitored");
    expect(() => c.s.forget("a", 0)).toThrow("service 'a' is up");
  });
});

describe("shutdown", () => {
  test("reverse dependency order, independents in parallel, no respawn, then power", () => {
    const c = new Core();
    c.monitor({ db: {}, app: { after: ["db"] }, web: { after: ["app"] }, solo: {}, crashy: {} });
    c.spawned("db", 1, 0);
    c.spawned("solo", 4, 0);
    c.spawned("crashy", 5, 0);
    c.spawned("app", 2, 0);
    c.spawned("web", 3, 0);
    c.exited(5, code(1), 1);
    c.spawned("crashy", 6, 1);
    c.exited(6, code(1), 2); // now waiting on a restart timer
    const eff = c.s.shutdown("exit", 3);
    expect(ofType(eff, "signal").map((e) => e.name)).toEqual(["crashy", "solo", "web"]);
    expect(logs(eff)[0]).toBe("shutdown: stopping 5 services in order");
    expect(
      ofType(eff, "cancelTimer").some((e) => e.name === "crashy" && e.kind === "restart"),
    ).toBe(true);
    expect(() => c.s.start("db", 4)).toThrow("system is shutting down");
    // The restart timer firing late must not respawn.
    expect(spawns(c.timer("crashy", "restart", 5))).toEqual([]);
    expect(ofType(c.drained("crashy", 5), "signal")).toEqual([]);
    c.exited(4, killedBy(15), 5);
    expect(ofType(c.drained("solo", 5), "power")).toEqual([]);
    c.exited(3, killedBy(15), 6);
    expect(ofType(c.drained("web", 6), "signal").map((e) => e.name)).toEqual(["app"]);
    c.exited(2, killedBy(15), 7);
    expect(ofType(c.drained("app", 7), "signal").map((e) => e.name)).toEqual(["db"]);
    expect(ofType(c.exited(1, code(0), 8), "power")).toEqual([]);
    expect(ofType(c.drained("db", 8), "power")).toEqual([
      { type: "power", mode: "exit", exitCode: 0 },
    ]);
    expect(() => c.s.shutdown("reboot", 9)).toThrow("system is shutting down");
  });

  test("a dependency cycle cannot hang the shutdown", () => {
    const c = new Core();
    c.monitor({ a: { after: ["b"] }, b: { after: ["a"] }, c: { after: ["a"] } });
    const eff = c.s.shutdown("poweroff", 1);
    expect(ofType(eff, "signal").map((e) => e.name)).toEqual(["c"]);
    const next = c.drained("c", 2);
    expect(ofType(next, "signal").map((e) => e.name)).toEqual(["a", "b"]);
    c.drained("a", 3);
    expect(ofType(c.drained("b", 3), "power")).toEqual([
      { type: "power", mode: "poweroff", exitCode: 0 },
    ]);
  });

  test("a process that ignores every signal is given up on after SIGKILL grace", () => {
    const c = new Core();
    c.monitor({ d: { shutdownTimeout: 1 } });
    c.spawned("d", 9, 0);
    c.s.shutdown("exit", 1);
    c.timer("d", "kill", 1001);
    const eff = c.timer("d", "giveUp", 6001);
    expect(ofType(eff, "power")).toEqual([{ type: "power", mode: "exit", exitCode: 0 }]);
  });

  test("a 10,000-service chain stops in reverse order, one at a time, without recursion", () => {
    const c = new Core();
    const n = 10_000;
    const services: Record<string, { after?: string[] }> = {};
    for (let i = 0; i < n; i++) services[`s${i}`] = i === 0 ? {} : { after: [`s${i - 1}`] };
    c.monitor(services);
    for (let i = 0; i < n; i++) c.spawned(`s${i}`, 1000 + i, 0);
    let eff = c.s.shutdown("exit", 1);
    const order: string[] = [];
    for (let i = n - 1; i >= 0; i--) {
      const stopping = ofType(eff, "signal").map((e) => e.name);
      expect(stopping).toEqual([`s${i}`]);
      order.push(...stopping);
      c.exited(1000 + i, killedBy(15), 2);
      eff = c.drained(`s${i}`, 2);
    }
    expect(ofType(eff, "power")).toHaveLength(1);
    expect(order[0]).toBe(`s${n - 1}`);
  });

  test("6,000 blocked services stop and power off", () => {
    const c = new Core();
    const n = 6_000;
    const services: Record<string, { after?: string[] }> = { root: { after: ["never"] } };
    for (let i = 0; i < n; i++) services[`b${i}`] = { after: [i === 0 ? "root" : `b${i - 1}`] };
    c.monitor(services);
    let eff = c.s.shutdown("exit", 1);
    let rounds = 0;
    while (ofType(eff, "power").length === 0) {
      const names = ofType(eff, "signal").map((e) => e.name);
      expect(names.length).toBeGreaterThan(0);
      eff = names.flatMap((name) => c.drained(name, 2));
      rounds++;
    }
    expect(rounds).toBe(n + 1);
  });
});
