// Lifecycle policies of one service, through the supervisor with `now` fed in: restart policy,
// success codes, the restart budget and its window, the backoff and stability period, critical
// services and exit codes, jobs that end zinit, the start timeout, the stop command, liveness and
// the watchdog.

import { describe, expect, test } from "bun:test";
import { EVENT_KINDS, PHASES, TRANSITIONS } from "../../src/core/lifecycle.ts";
import { Core, code, killedBy, logs, ofType, signalled, spawns } from "./harness.ts";

describe("the transition table", () => {
  test("every event is handled in every phase", () => {
    for (const phase of PHASES) {
      for (const kind of EVENT_KINDS) {
        expect(typeof TRANSITIONS[phase][kind]).toBe("function");
      }
      expect(Object.keys(TRANSITIONS[phase]).sort()).toEqual([...EVENT_KINDS].sort());
    }
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...PHASES].sort());
  });
});

describe("restart policy", () => {
  test("never: the service stays down with target Up, whatever the exit", () => {
    const c = new Core();
    c.monitor({ a: { restart: "never" }, b: { restart: "never" } });
    c.spawned("a", 10, 0);
    c.spawned("b", 11, 0);
    expect(spawns(c.exited(10, code(0), 5))).toEqual([]);
    expect(spawns(c.exited(11, code(2), 5))).toEqual([]);
    expect(c.s.list()).toEqual({ a: "Success", b: "Error(Exited(Pid(11), 2))" });
    expect(c.s.status("a").target).toBe("Up");
    // start runs it again.
    expect(spawns(c.s.start("b", 6))).toEqual(["b:main"]);
  });

  test("on-failure restarts failures only; success_exit_codes decide what success is", () => {
    const c = new Core();
    c.monitor({ w: { restart: "on-failure", successExitCodes: [0, 3], stabilityPeriodMs: 0 } });
    c.spawned("w", 10, 0);
    expect(spawns(c.exited(10, code(1), 5_000))).toEqual(["w:main"]);
    c.spawned("w", 11, 5_000);
    expect(spawns(c.exited(11, killedBy(9), 10_000))).toEqual(["w:main"]);
    c.spawned("w", 12, 10_000);
    expect(spawns(c.exited(12, code(3), 15_000))).toEqual([]);
    expect(c.state("w")).toBe("Success");
  });

  test("a spawn failure is retried even with restart: never (it never ran)", () => {
    const c = new Core();
    c.monitor({ x: { restart: "never" } });
    const eff = c.spawnFailed("x", "No such file or directory (os error 2)", 0);
    expect(ofType(eff, "timer")).toEqual([{ type: "timer", name: "x", kind: "restart", ms: 100 }]);
  });
});

describe("backoff and stability", () => {
  test("custom delays; a run of at least stability_period_ms resets the backoff", () => {
    const c = new Core();
    c.monitor({ s: { restartDelayMs: 250, restartDelayMaxMs: 1000, stabilityPeriodMs: 1_000 } });
    let now = 0;
    let pid = 10;
    const crash = (ranFor: number) => {
      c.spawned("s", pid, now);
      now += ranFor;
      const eff = c.exited(pid++, code(1), now);
      const timer = ofType(eff, "timer").find((t) => t.kind === "restart");
      if (timer) {
        now += timer.ms;
        c.timer("s", "restart", now);
      }
      return timer?.ms ?? 0;
    };
    expect([crash(10), crash(10), crash(10), crash(10), crash(10)]).toEqual([
      0, 250, 500, 1000, 1000,
    ]);
    // Up for a second: back to an immediate restart, then the backoff starts over.
    expect([crash(1_000), crash(10)]).toEqual([0, 250]);
  });

  test("defaults: the first crash and every crash after a run of 1 s or more restart at once", () => {
    const c = new Core();
    c.monitor({ s: {} });
    let now = 0;
    let pid = 10;
    const crash = (ranFor: number) => {
      c.spawned("s", pid, now);
      now += ranFor;
      const eff = c.exited(pid++, code(1), now);
      const timer = ofType(eff, "timer").find((t) => t.kind === "restart");
      if (timer) {
        now += timer.ms;
        c.timer("s", "restart", now);
      } else {
        expect(spawns(eff)).toEqual(["s:main"]);
      }
      return timer?.ms ?? 0;
    };
    // The very first crash, however quick, is restarted at once.
    expect(crash(5)).toBe(0);
    // Killed 1.5 s after each restart (the peers' restart harness): never delayed.
    expect(Array.from({ length: 15 }, () => crash(1_500))).toEqual(Array(15).fill(0));
    // Runs just under a second are a crash loop: 100 ms, doubling, capped at 2 s.
    expect(Array.from({ length: 7 }, () => crash(999))).toEqual([
      100, 200, 400, 800, 1600, 2000, 2000,
    ]);
    expect(crash(1_000)).toBe(0);
  });
});

describe("restart budget", () => {
  test("max_restarts within restart_window_ms, then Failure with target Up until start", () => {
    const c = new Core();
    c.monitor({ s: { maxRestarts: 3, restartWindowMs: 60_000, stabilityPeriodMs: 0 } });
    let now = 0;
    for (let pid = 10; pid < 13; pid++) {
      c.spawned("s", pid, now);
      now += 1_000;
      expect(spawns(c.exited(pid, code(1), now))).toEqual(["s:main"]);
    }
    expect(c.s.inspect("s", now).restarts_left).toBe(0);
    c.spawned("s", 13, now);
    now += 1_000;
    const eff = c.exited(13, code(1), now);
    expect(spawns(eff)).toEqual([]);
    expect(c.s.status("s")).toMatchObject({ state: "Failure", target: "Up", pid: 0 });
    expect(logs(eff)).toEqual([
      "service s exited with code 1; gave up after 3 restarts within 60 s ('zinit start s' tries again)",
    ]);
    expect(c.s.inspect("s", now).reason).toContain("gave up");
    expect(ofType(eff, "changed").at(-1)?.change).toMatchObject({ name: "s", state: "Failure" });
    // start resets the budget.
    expect(spawns(c.s.start("s", now))).toEqual(["s:main"]);
    expect(c.s.inspect("s", now).restarts_left).toBe(3);
  });

  test("restarts older than the window do not count", () => {
    const c = new Core();
    c.monitor({ s: { maxRestarts: 2, restartWindowMs: 10_000, stabilityPeriodMs: 0 } });
    let now = 0;
    for (let pid = 10; pid < 20; pid++) {
      c.spawned("s", pid, now);
      now += 6_000; // one restart every 6 s: never two within 10 s
      expect(spawns(c.exited(pid, code(1), now))).toEqual(["s:main"]);
    }
  });
});

describe("critical services", () => {
  test("restart: never and a failure: ordered shutdown, exit with the service's code", () => {
    const c = new Core();
    c.monitor({ app: { critical: true, restart: "never" }, side: {} });
    c.spawned("app", 10, 0);
    c.spawned("side", 11, 0);
    const eff = c.exited(10, code(3), 5);
    expect(logs(eff)).toContain(
      "critical service app failed for good: stopping everything (exit code 3)",
    );
    expect(signalled(eff)).toContain("side:15");
    c.drained("app", 6);
    c.exited(11, killedBy(15), 6);
    expect(ofType(c.drained("side", 6), "power")).toEqual([
      { type: "power", mode: "exit", exitCode: 3 },
    ]);
  });

  test("killed by a signal: 128 + its number", () => {
    const c = new Core();
    c.monitor({ app: { critical: true, restart: "never" } });
    c.spawned("app", 10, 0);
    c.exited(10, killedBy(9), 5);
    expect(ofType(c.drained("app", 6), "power")).toEqual([
      { type: "power", mode: "exit", exitCode: 137 },
    ]);
  });

  test("a spent budget is final too; as a machine's PID 1 the critical_action applies", () => {
    const c = new Core({ canPower: true });
    c.monitor({
      app: { critical: true, criticalAction: "poweroff", maxRestarts: 1, stabilityPeriodMs: 0 },
    });
    c.spawned("app", 10, 0);
    c.exited(10, code(4), 1);
    c.spawned("app", 11, 1);
    const eff = c.exited(11, code(5), 2);
    expect(logs(eff)).toContain(
      "critical service app failed for good: stopping everything (poweroff)",
    );
    expect(ofType(c.drained("app", 3), "power")).toEqual([
      { type: "power", mode: "poweroff", exitCode: 5 },
    ]);
  });

  test("a critical oneshot that fails ends zinit; one that succeeds does not", () => {
    const c = new Core();
    c.monitor({ ok: { oneshot: true, critical: true }, bad: { oneshot: true, critical: true } });
    c.spawned("ok", 10, 0);
    c.spawned("bad", 11, 0);
    expect(ofType(c.exited(10, code(0), 1), "signal")).toEqual([]);
    expect(c.s.shuttingDown).toBe(false);
    c.exited(11, code(2), 2);
    expect(c.s.shuttingDown).toBe(true);
  });

  test("exit_on_success: the job's success ends zinit with 0", () => {
    const c = new Core();
    c.monitor({ job: { exitOnSuccess: true, restart: "on-failure" } });
    c.spawned("job", 10, 0);
    expect(spawns(c.exited(10, code(1), 1))).toEqual(["job:main"]);
    c.spawned("job", 11, 1);
    const eff = c.exited(11, code(0), 2);
    expect(logs(eff)).toContain("service job exited with code 0: its job is done");
    expect(ofType(c.drained("job", 3), "power")).toEqual([
      { type: "power", mode: "exit", exitCode: 0 },
    ]);
  });
});

describe("start timeout", () => {
  test("not Running in time: stopped as a failed run, then the restart policy applies", () => {
    const c = new Core();
    c.monitor({
      web: { test: "check", testArgv: ["check"], startTimeoutMs: 5_000, stabilityPeriodMs: 0 },
    });
    c.spawned("web", 10, 0);
    const eff = c.timer("web", "startTimeout", 5_000);
    expect(logs(eff)).toContain("service web: not Running within 5000 ms; stopping it");
    expect(signalled(eff)).toEqual(["web:15"]);
    c.exited(10, killedBy(15), 5_001);
    const after = c.drained("web", 5_002);
    expect(spawns(after)).toEqual(["web:main"]);
    expect(logs(after)).toContain("service web not Running within 5000 ms; restarting");
  });

  test("the timer is cancelled once Running; EXTEND_TIMEOUT_USEC re-arms it", () => {
    const c = new Core();
    c.monitor({ d: { notify: { kind: "systemd" }, startTimeoutMs: 1_000 } });
    c.spawned("d", 10, 0);
    const ext = c.event(
      { type: "notify", name: "d", pid: 10, fields: { EXTEND_TIMEOUT_USEC: "4000000" } },
      500,
    );
    expect(ofType(ext, "timer")).toEqual([
      { type: "timer", name: "d", kind: "startTimeout", ms: 4000 },
    ]);
    const ready = c.event(
      { type: "notify", name: "d", pid: 10, fields: { READY: "1", STATUS: "serving" } },
      600,
    );
    expect(ofType(ready, "cancelTimer").map((e) => e.kind)).toContain("startTimeout");
    expect(c.state("d")).toBe("Running");
    expect(c.s.inspect("d", 700).status_text).toBe("serving");
  });
});

describe("reload notification", () => {
  test("RELOADING=1 … READY=1: shown and logged; the service stays Running throughout", () => {
    const c = new Core();
    c.monitor({ d: { notify: { kind: "systemd" } } });
    c.spawned("d", 10, 0);
    const notify = (fields: Record<string, string>, now: number) =>
      c.event({ type: "notify", name: "d", pid: 10, fields }, now);
    // Before the service is ready, RELOADING=1 means nothing.
    expect(logs(notify({ RELOADING: "1" }, 100))).toEqual([]);
    expect(c.s.inspect("d", 100).reloading).toBe(false);
    notify({ READY: "1" }, 200);
    const reload = notify({ RELOADING: "1", MONOTONIC_USEC: "1" }, 300);
    expect(logs(reload)).toEqual(["service d: reloading (RELOADING=1)"]);
    expect(c.s.inspect("d", 300)).toMatchObject({ reloading: true, state: "Running", ready: true });
    expect(c.state("d")).toBe("Running");
    const done = notify({ READY: "1" }, 400);
    expect(logs(done)).toEqual(["service d: reloaded (READY=1)"]);
    expect(ofType(done, "spawn")).toEqual([]);
    expect(c.s.inspect("d", 400)).toMatchObject({ reloading: false, state: "Running" });
  });
});

describe("stop command", () => {
  test("runs first; the stop signal follows when it ends; SIGKILL at shutdown_timeout", () => {
    const c = new Core();
    c.monitor({
      db: { stop: { line: "db-ctl stop", argv: ["db-ctl", "stop"] }, shutdownTimeout: 10 },
    });
    c.spawned("db", 10, 0);
    const eff = c.s.stop("db", 1);
    expect(spawns(eff)).toEqual(["db:stop"]);
    expect(signalled(eff)).toEqual([]);
    c.spawned("db", 11, 1, "stop");
    const hookDone = c.exited(11, code(0), 2);
    expect(signalled(hookDone)).toEqual(["db:15"]);
    c.exited(10, code(0), 3);
    const done = c.drained("db", 3);
    expect(ofType(done, "stopped")).toHaveLength(1);
    expect(logs(done)).toEqual(["stopped db in 0.00 s (stop command)"]);
  });

  test("a stop command that hangs is killed at the deadline with the service", () => {
    const c = new Core();
    c.monitor({ db: { stop: { line: "hang", argv: ["hang"] }, shutdownTimeout: 2 } });
    c.spawned("db", 10, 0);
    c.s.stop("db", 0);
    c.spawned("db", 11, 0, "stop");
    const kill = c.timer("db", "kill", 2_000);
    expect(ofType(kill, "killGroup")).toEqual([
      { type: "killGroup", name: "db", role: "stop", pid: 11, signal: 9 },
    ]);
    expect(signalled(kill)).toEqual(["db:9"]);
    c.exited(10, killedBy(9), 2_001);
    expect(ofType(c.drained("db", 2_001), "stopped")).toHaveLength(1);
  });
});

describe("liveness", () => {
  const live = {
    check: { kind: "tcp" as const, host: "127.0.0.1", port: 80 },
    intervalMs: 10_000,
    timeoutMs: 1_000,
    failureThreshold: 3,
  };

  test("checks every period once Running; three failures in a row restart it", () => {
    const c = new Core();
    c.monitor({ web: { live, stabilityPeriodMs: 0 } });
    const started = c.spawned("web", 10, 0);
    expect(ofType(started, "timer")).toContainEqual({
      type: "timer",
      name: "web",
      kind: "live",
      ms: 10_000,
    });
    const probe = (now: number, ok: boolean) => {
      const eff = c.timer("web", "live", now);
      expect(ofType(eff, "probe")).toHaveLength(1);
      return c.event(
        {
          type: "probeDone",
          name: "web",
          level: "live",
          ok,
          detail: ok ? "connected" : "connect 127.0.0.1:80: ECONNREFUSED",
        },
        now,
      );
    };
    expect(logs(probe(10_000, false))).toEqual([
      "service web: liveness check: connect 127.0.0.1:80: ECONNREFUSED (1 of 3)",
    ]);
    probe(20_000, true); // a pass resets the count
    probe(30_000, false);
    probe(40_000, false);
    const third = probe(50_000, false);
    expect(logs(third)).toContain(
      "service web: liveness check: connect 127.0.0.1:80: ECONNREFUSED (3 of 3 in a row); stopping it",
    );
    expect(signalled(third)).toEqual(["web:15"]);
    c.exited(10, killedBy(15), 50_001);
    expect(spawns(c.drained("web", 50_001))).toEqual(["web:main"]);
  });

  test("a missed watchdog restarts it; WATCHDOG=1 re-arms", () => {
    const c = new Core();
    c.monitor({ d: { notify: { kind: "systemd" }, watchdogMs: 3_000, stabilityPeriodMs: 0 } });
    c.spawned("d", 10, 0);
    const ready = c.event({ type: "notify", name: "d", pid: 10, fields: { READY: "1" } }, 100);
    expect(ofType(ready, "timer")).toContainEqual({
      type: "timer",
      name: "d",
      kind: "watchdog",
      ms: 3_000,
    });
    const pet = c.event({ type: "notify", name: "d", pid: 10, fields: { WATCHDOG: "1" } }, 2_000);
    expect(ofType(pet, "timer")).toEqual([
      { type: "timer", name: "d", kind: "watchdog", ms: 3_000 },
    ]);
    const missed = c.timer("d", "watchdog", 5_000);
    expect(logs(missed)).toContain("service d: no WATCHDOG=1 within 3000 ms; stopping it");
  });
});

describe("MAINPID", () => {
  const notify = (c: Core, pid: number, fields: Record<string, string>, now: number) =>
    c.event({ type: "notify", name: "d", pid, fields }, now);

  test("the named process becomes the main one: shown, signalled; the old one's exit ends nothing", () => {
    const c = new Core();
    c.monitor({ d: { notify: { kind: "systemd" }, stabilityPeriodMs: 0 } });
    c.spawned("d", 10, 0);
    expect(c.s.announcedMain("d")).toBe(false);
    const eff = notify(c, 10, { MAINPID: "11", READY: "1" }, 5);
    expect(c.s.announcedMain("d")).toBe(true);
    expect(logs(eff)).toContain("service d: main process is now pid 11 (MAINPID=; was 10)");
    expect(ofType(eff, "changed").at(-1)?.change).toMatchObject({ pid: 11, state: "Running" });
    expect(c.s.status("d").pid).toBe(11);
    expect(c.s.requireRunning("d")).toBe(11);
    // The forking parent exits: the run goes on, once the shell has confirmed 11 is still there.
    const parent = c.exited(10, code(0), 6);
    expect(ofType(parent, "confirmMain")).toEqual([
      { type: "confirmMain", name: "d", pid: 11, status: code(0) },
    ]);
    expect(spawns(parent)).toEqual([]);
    expect(c.s.status("d")).toMatchObject({ pid: 11, state: "Running" });
    // A stop signals the new main process; its exit ends the stop.
    expect(ofType(c.s.stop("d", 7), "signal")).toEqual([
      { type: "signal", name: "d", pid: 11, signal: 15 },
    ]);
    c.exited(11, killedBy(15), 8);
    expect(ofType(c.drained("d", 8), "stopped")).toHaveLength(1);
    expect(c.state("d")).toBe("Error(Signaled(Pid(11), SIGTERM, false))");
  });

  test("the exit of the new main process ends the run and the restart policy applies", () => {
    const c = new Core();
    c.monitor({ d: { notify: { kind: "systemd" }, stabilityPeriodMs: 0 } });
    c.spawned("d", 10, 0);
    notify(c, 10, { MAINPID: "11", READY: "1" }, 5);
    c.exited(10, code(0), 6);
    const eff = c.exited(11, code(4), 1_000);
    expect(logs(eff)).toContain("service d exited with code 4; restarting");
    expect(spawns(eff)).toEqual(["d:main"]);
  });

  test("not a pid, the main pid already, a probe's command, or not running: nothing changes", () => {
    const c = new Core();
    c.monitor({
      d: {
        notify: { kind: "systemd" },
        live: {
          check: { kind: "exec", command: { line: "check", argv: ["check"] } },
          intervalMs: 1_000,
          timeoutMs: 1_000,
          failureThreshold: 3,
        },
      },
    });
    c.spawned("d", 10, 0);
    for (const bad of ["", "0", "-3", "12abc", "10", "99999999999"]) {
      const eff = notify(c, 10, { MAINPID: bad }, 1);
      expect(logs(eff)).toEqual([]);
      expect(c.s.status("d").pid).toBe(10);
    }
    notify(c, 10, { READY: "1" }, 2);
    c.timer("d", "live", 1_002);
    c.spawned("d", 20, 1_002, "live");
    expect(logs(notify(c, 10, { MAINPID: "20" }, 1_003))).toEqual([
      "service d: ignored MAINPID=20: that is its live check",
    ]);
    expect(c.s.status("d").pid).toBe(10);
    c.s.stop("d", 1_004);
    notify(c, 10, { MAINPID: "30" }, 1_005);
    expect(c.s.status("d").pid).toBe(10);
  });
});
