import { describe, expect, test } from "bun:test";
import { ZinitError } from "../../src/core/errors.ts";
import { TEST_TIMEOUT_MS } from "../../src/core/policy.ts";
import { type Effect, Supervisor } from "../../src/core/supervisor.ts";
import { serviceConfig as cfg } from "../helpers/service-config.ts";

const spawns = (effects: Effect[]) =>
  effects
    .filter((e) => e.type === "spawn")
    .map((e) => (e.type === "spawn" ? `${e.name}:${e.role}` : ""));
const ofType = <T extends Effect["type"]>(effects: Effect[], type: T) =>
  effects.filter((e): e is Extract<Effect, { type: T }> => e.type === type);

describe("start order", () => {
  test("after: dependents wait for Running deps and oneshot Success", () => {
    const s = new Supervisor();
    const eff = s.monitorAll(
      new Map([
        ["web", cfg({ after: ["db", "migrate"] })],
        ["db", cfg()],
        ["migrate", cfg({ oneshot: true, after: ["db"] })],
      ]),
      0,
    );
    expect(spawns(eff)).toEqual(["db:main"]);
    // Unknown until the shell reports the spawn.
    expect(s.list()).toEqual({ db: "Unknown", migrate: "Blocked", web: "Blocked" });
    expect(spawns(s.spawned("db", "main", 10, 1))).toEqual(["migrate:main"]);
    expect(s.list().db).toBe("Running");
    // A oneshot that is still running does not satisfy its dependents.
    expect(spawns(s.spawned("migrate", "main", 11, 2))).toEqual([]);
    expect(s.list().migrate).toBe("Running");
    expect(spawns(s.exited(11, { kind: "exited", code: 0 }, 3))).toEqual(["web:main"]);
    expect(s.status("web")).toEqual({
      name: "web",
      pid: 0,
      state: "Blocked", // until the shell reports the spawn
      target: "Up",
      after: { db: "Running", migrate: "Success" },
    });
  });

  test("a failed oneshot blocks its dependents and says why", () => {
    const s = new Supervisor();
    s.monitorAll(
      new Map([
        ["m", cfg({ oneshot: true })],
        ["w", cfg({ after: ["m"] })],
      ]),
      0,
    );
    s.spawned("m", "main", 5, 0);
    const eff = s.exited(5, { kind: "exited", code: 3 }, 1);
    expect(spawns(eff)).toEqual([]);
    expect(s.list()).toEqual({ m: "Error(Exited(Pid(5), 3))", w: "Blocked" });
    const msgs = ofType(eff, "log").map((e) => e.message);
    expect(msgs).toContain("service w is waiting for 'm' (failed: Error(Exited(Pid(5), 3)))");
  });

  test("unknown dependency: blocked and reported, others unaffected", () => {
    const s = new Supervisor();
    const eff = s.monitorAll(
      new Map([
        ["a", cfg({ after: ["ghost"] })],
        ["b", cfg()],
      ]),
      0,
    );
    expect(spawns(eff)).toEqual(["b:main"]);
    expect(ofType(eff, "log").map((e) => e.message)).toContain(
      "service a is waiting for 'ghost' (not a known service)",
    );
    expect(s.status("a").after).toEqual({ ghost: "Unknown" });
    // Monitoring the missing dependency later unblocks it (upstream never re-checks here).
    s.monitor("ghost", cfg(), 1);
    expect(spawns(s.spawned("ghost", "main", 7, 2))).toEqual(["a:main"]);
  });

  test("cycles are reported with their path and do not block others", () => {
    const s = new Supervisor();
    const eff = s.monitorAll(
      new Map([
        ["a", cfg({ after: ["b"] })],
        ["b", cfg({ after: ["a"] })],
        ["c", cfg()],
        ["d", cfg({ after: ["d"] })],
      ]),
      0,
    );
    expect(spawns(eff)).toEqual(["c:main"]);
    const msgs = ofType(eff, "log").map((e) => e.message);
    expect(msgs).toContain("dependency cycle: a -> b -> a");
    expect(msgs).toContain("dependency cycle: d -> d");
  });
});

describe("test gating", () => {
  test("Spawned until the test passes; failures retry with backoff, not a busy loop", () => {
    const s = new Supervisor();
    s.monitorAll(
      new Map([
        ["web", cfg({ test: "check", testArgv: ["check"] })],
        ["w", cfg({ after: ["web"] })],
      ]),
      0,
    );
    expect(spawns(s.spawned("web", "main", 20, 0))).toEqual(["web:test"]);
    expect(s.list().web).toBe("Spawned");
    const t1 = s.spawned("web", "test", 21, 0);
    expect(ofType(t1, "timer")).toEqual([
      { type: "timer", name: "web", kind: "testTimeout", ms: TEST_TIMEOUT_MS },
    ]);
    const fail = s.exited(21, { kind: "exited", code: 1 }, 1);
    expect(ofType(fail, "timer")).toEqual([{ type: "timer", name: "web", kind: "test", ms: 50 }]);
    expect(spawns(s.timer("web", "test", 60))).toEqual(["web:test"]);
    s.spawned("web", "test", 22, 60);
    const fail2 = s.exited(22, { kind: "exited", code: 1 }, 70);
    expect(ofType(fail2, "timer")[0]).toMatchObject({ kind: "test", ms: 100 });
    s.timer("web", "test", 200);
    s.spawned("web", "test", 23, 200);
    expect(spawns(s.exited(23, { kind: "exited", code: 0 }, 210))).toEqual(["w:main"]);
    expect(s.list().web).toBe("Running");
  });

  test("a test that cannot be spawned sets TestFailure and retries later", () => {
    const s = new Supervisor();
    s.monitor("web", cfg({ test: "nope", testArgv: ["nope"] }), 0);
    s.spawned("web", "main", 30, 0);
    const eff = s.spawnFailed("web", "test", "No such file or directory (os error 2)", 1);
    expect(s.list().web).toBe("TestFailure");
    expect(spawns(eff)).toEqual([]);
    expect(ofType(eff, "timer")).toEqual([{ type: "timer", name: "web", kind: "test", ms: 50 }]);
  });

  test("a hung test is killed at the timeout", () => {
    const s = new Supervisor();
    s.monitor("web", cfg({ test: "hang", testArgv: ["hang"] }), 0);
    s.spawned("web", "main", 40, 0);
    s.spawned("web", "test", 41, 0);
    expect(ofType(s.timer("web", "testTimeout", TEST_TIMEOUT_MS), "killTest")).toEqual([
      { type: "killTest", name: "web", pid: 41 },
    ]);
  });

  test("the test is killed when the main process exits", () => {
    const s = new Supervisor();
    s.monitor("web", cfg({ test: "t", testArgv: ["t"] }), 0);
    s.spawned("web", "main", 50, 0);
    s.spawned("web", "test", 51, 0);
    const eff = s.exited(50, { kind: "signaled", signal: 9, core: false }, 5);
    expect(ofType(eff, "killTest")).toEqual([{ type: "killTest", name: "web", pid: 51 }]);
    // The exit state stays visible until the immediate respawn is reported.
    expect(s.list().web).toBe("Error(Signaled(Pid(50), SIGKILL, false))");
    expect(spawns(eff)).toEqual(["web:main"]);
  });
});

describe("restart", () => {
  test("immediate after a healthy run, then exponential backoff capped at 2 s", () => {
    const s = new Supervisor();
    s.monitor("svc", cfg(), 0);
    s.spawned("svc", "main", 100, 0);
    // Ran 60 s: healthy, immediate restart.
    let eff = s.exited(100, { kind: "exited", code: 1 }, 60_000);
    expect(spawns(eff)).toEqual(["svc:main"]);
    expect(s.list().svc).toBe("Error(Exited(Pid(100), 1))");
    const delays: number[] = [];
    let pid = 101;
    let now = 60_000;
    for (let i = 0; i < 8; i++) {
      s.spawned("svc", "main", pid, now);
      eff = s.exited(pid++, { kind: "exited", code: 1 }, now + 10);
      const timer = ofType(eff, "timer").find((t) => t.kind === "restart");
      expect(timer).toBeDefined();
      delays.push(timer!.ms);
      now += 10 + timer!.ms;
      expect(spawns(s.timer("svc", "restart", now))).toEqual(["svc:main"]);
    }
    expect(delays).toEqual([100, 200, 400, 800, 1600, 2000, 2000, 2000]);
  });

  test("exit 0 also restarts a non-oneshot; oneshots never restart", () => {
    const s = new Supervisor();
    s.monitorAll(
      new Map([
        ["a", cfg()],
        ["o", cfg({ oneshot: true })],
      ]),
      0,
    );
    s.spawned("a", "main", 1, 0);
    s.spawned("o", "main", 2, 0);
    expect(spawns(s.exited(1, { kind: "exited", code: 0 }, 20_000))).toEqual(["a:main"]);
    expect(spawns(s.exited(2, { kind: "exited", code: 0 }, 20_000))).toEqual([]);
    expect(s.list().o).toBe("Success");
    // start() runs a finished oneshot again.
    expect(spawns(s.start("o", 20_001))).toEqual(["o:main"]);
  });

  test("a spawn failure is retried with backoff and keeps the errno text", () => {
    const s = new Supervisor();
    s.monitor("x", cfg({ exec: "/nope", argv: ["/nope"] }), 0);
    const eff = s.spawnFailed("x", "main", "No such file or directory (os error 2)", 0);
    expect(s.list().x).toBe("Failure");
    expect(ofType(eff, "log")[0]?.message).toBe(
      "service x failed to start: No such file or directory (os error 2); retrying in 100 ms",
    );
    expect(spawns(s.timer("x", "restart", 100))).toEqual(["x:main"]);
    const eff2 = s.spawnFailed("x", "main", "again", 100);
    expect(ofType(eff2, "timer")[0]).toMatchObject({ kind: "restart", ms: 200 });
  });

  test("start() cuts a backoff short", () => {
    const s = new Supervisor();
    s.monitor("x", cfg(), 0);
    s.spawned("x", "main", 9, 0);
    s.exited(9, { kind: "exited", code: 1 }, 1); // immediate (first)
    s.spawned("x", "main", 10, 1);
    const eff = s.exited(10, { kind: "exited", code: 1 }, 2);
    expect(ofType(eff, "timer")[0]).toMatchObject({ kind: "restart", ms: 100 });
    expect(spawns(s.start("x", 3))).toEqual(["x:main"]);
  });
});

describe("stop", () => {
  test("signal, wait, SIGKILL after shutdown_timeout, final when drained", () => {
    const s = new Supervisor();
    s.monitor("svc", cfg({ shutdownTimeout: 3, stopSignal: "SIGINT" }), 0);
    s.spawned("svc", "main", 70, 0);
    const eff = s.stop("svc", 1);
    expect(ofType(eff, "signalAll")).toEqual([{ type: "signalAll", name: "svc", signal: 2 }]);
    expect(ofType(eff, "timer")).toEqual([{ type: "timer", name: "svc", kind: "kill", ms: 3000 }]);
    const kill = s.timer("svc", "kill", 3001);
    expect(ofType(kill, "signalAll")).toEqual([{ type: "signalAll", name: "svc", signal: 9 }]);
    // The main process is gone, but a grandchild is not: not stopped yet.
    expect(
      ofType(s.exited(70, { kind: "signaled", signal: 9, core: false }, 3002), "stopped"),
    ).toEqual([]);
    expect(s.status("svc")).toMatchObject({
      pid: 0,
      state: "Error(Signaled(Pid(70), SIGKILL, false))",
      target: "Down",
    });
    expect(() => s.forget("svc")).toThrow(ZinitError);
    const done = s.drained("svc", 3003);
    expect(ofType(done, "stopped")).toEqual([{ type: "stopped", name: "svc" }]);
    expect(spawns(done)).toEqual([]);
    s.forget("svc");
    expect(s.has("svc")).toBe(false);
  });

  test("stop of a service with no process still sweeps leftovers", () => {
    const s = new Supervisor();
    s.monitor("o", cfg({ oneshot: true }), 0);
    s.spawned("o", "main", 80, 0);
    s.exited(80, { kind: "exited", code: 0 }, 1);
    const eff = s.stop("o", 2);
    expect(ofType(eff, "signalAll")).toHaveLength(1);
    expect(ofType(s.drained("o", 3), "stopped")).toHaveLength(1);
    expect(s.status("o")).toMatchObject({ state: "Success", target: "Down" });
  });

  test("errors: unknown service, kill of a down service", () => {
    const s = new Supervisor();
    expect(() => s.stop("nope", 0)).toThrow("service 'nope' not found");
    s.monitor("a", cfg({ after: ["b"] }), 0);
    expect(() => s.requireRunning("a")).toThrow("service 'a' is down");
    expect(() => s.monitor("a", cfg(), 0)).toThrow("service 'a' already monitored");
    expect(() => s.forget("a")).toThrow("service 'a' is up");
  });
});

describe("shutdown", () => {
  test("reverse dependency order, independents in parallel, no respawn, then power", () => {
    const s = new Supervisor();
    s.monitorAll(
      new Map([
        ["db", cfg()],
        ["app", cfg({ after: ["db"] })],
        ["web", cfg({ after: ["app"] })],
        ["solo", cfg()],
        ["crashy", cfg()],
      ]),
      0,
    );
    s.spawned("db", "main", 1, 0);
    s.spawned("solo", "main", 4, 0);
    s.spawned("crashy", "main", 5, 0);
    s.spawned("app", "main", 2, 0);
    s.spawned("web", "main", 3, 0);
    s.exited(5, { kind: "exited", code: 1 }, 1);
    s.spawned("crashy", "main", 6, 1);
    s.exited(6, { kind: "exited", code: 1 }, 2); // now waiting on a restart timer
    const eff = s.shutdown("exit", 3);
    const first = ofType(eff, "signalAll").map((e) => e.name);
    expect(first).toEqual(["crashy", "solo", "web"]);
    expect(
      ofType(eff, "cancelTimer").some((e) => e.name === "crashy" && e.kind === "restart"),
    ).toBe(true);
    expect(() => s.start("db", 4)).toThrow("system is shutting down");
    // The restart timer firing late must not respawn.
    expect(spawns(s.timer("crashy", "restart", 5))).toEqual([]);
    expect(ofType(s.drained("crashy", 5), "signalAll")).toEqual([]);
    s.exited(4, { kind: "signaled", signal: 15, core: false }, 5);
    expect(ofType(s.drained("solo", 5), "power")).toEqual([]);
    s.exited(3, { kind: "signaled", signal: 15, core: false }, 6);
    const afterWeb = s.drained("web", 6);
    expect(ofType(afterWeb, "signalAll").map((e) => e.name)).toEqual(["app"]);
    s.exited(2, { kind: "signaled", signal: 15, core: false }, 7);
    expect(ofType(s.drained("app", 7), "signalAll").map((e) => e.name)).toEqual(["db"]);
    expect(ofType(s.exited(1, { kind: "exited", code: 0 }, 8), "power")).toEqual([]);
    expect(ofType(s.drained("db", 8), "power")).toEqual([{ type: "power", mode: "exit" }]);
    expect(() => s.shutdown("reboot", 9)).toThrow("system is shutting down");
  });

  test("a dependency cycle cannot hang the shutdown", () => {
    const s = new Supervisor();
    s.monitorAll(
      new Map([
        ["a", cfg({ after: ["b"] })],
        ["b", cfg({ after: ["a"] })],
        ["c", cfg({ after: ["a"] })],
      ]),
      0,
    );
    const eff = s.shutdown("poweroff", 1);
    expect(ofType(eff, "signalAll").map((e) => e.name)).toEqual(["c"]);
    const next = s.drained("c", 2);
    expect(ofType(next, "signalAll").map((e) => e.name)).toEqual(["a", "b"]);
    s.drained("a", 3);
    expect(ofType(s.drained("b", 3), "power")).toEqual([{ type: "power", mode: "poweroff" }]);
  });

  test("a process that ignores every signal is given up on after SIGKILL grace", () => {
    const s = new Supervisor();
    s.monitor("d", cfg({ shutdownTimeout: 1 }), 0);
    s.spawned("d", "main", 9, 0);
    s.shutdown("exit", 1);
    s.timer("d", "kill", 1001);
    const eff = s.timer("d", "giveUp", 6001);
    expect(ofType(eff, "power")).toEqual([{ type: "power", mode: "exit" }]);
  });
});
