// The compiled daemon as PID 1 of a fresh PID namespace: real processes, signals and sockets.

import { afterEach, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AS_ROOT } from "../helpers/privilege.ts";
import { cli, ReplyError, Zinit } from "../helpers/zinit.ts";
import { outputMatches } from "./lib.ts";

setDefaultTimeout(60_000);

let z: Zinit | null = null;
afterEach(async () => {
  await z?.stop();
  z = null;
});

/** A service that records its start and its clean stop in `order` and then idles. */
const recorder = (dir: string, name: string, extra = "") =>
  `exec: sh -c 'echo start:${name} >> ${dir}/order; trap "echo stop:${name} >> ${dir}/order; exit 0" TERM; sleep 1000 & wait'\n${extra}`;

const lines = (file: string) =>
  existsSync(file) ? readFileSync(file, "utf8").trim().split("\n") : [];

AS_ROOT.describe("daemon as PID 1", () => {
  test("ordered start with after and a oneshot; reverse-order stop on SIGTERM; exit 0", async () => {
    const dir = `/tmp/zinit-order-${process.pid}`;
    Bun.spawnSync(["rm", "-rf", dir]);
    Bun.spawnSync(["mkdir", "-p", dir]);
    z = await Zinit.boot({
      services: {
        "db.yaml": recorder(dir, "db"),
        "migrate.yaml": `exec: sh -c 'echo start:migrate >> ${dir}/order'\noneshot: true\nafter: [db]\n`,
        "app.yaml": recorder(dir, "app", "after:\n  - migrate\n  - db\n"),
        "web.yml": recorder(dir, "web", "after: [app]\n"),
      },
    });
    await z.waitState("web", "Running");
    expect(await z.list()).toEqual({
      app: "Running",
      db: "Running",
      migrate: "Success",
      web: "Running",
    });
    const status = await z.status("app");
    expect(status).toMatchObject({
      name: "app",
      state: "Running",
      target: "Up",
      after: { migrate: "Success", db: "Running" },
    });
    expect(status.pid).toBeGreaterThan(1);
    // Each start line is written by the service itself, so wait until the last one is there.
    await z.waitFor(() => lines(`${dir}/order`).length === 4, 10_000, "all start lines");
    expect(lines(`${dir}/order`)).toEqual(["start:db", "start:migrate", "start:app", "start:web"]);

    z.signal("SIGTERM");
    expect(await z.exited).toBe(0);
    expect(lines(`${dir}/order`).slice(4)).toEqual(["stop:web", "stop:app", "stop:db"]);
    Bun.spawnSync(["rm", "-rf", dir]);
  });

  test("test gates Spawned -> Running; dependents wait for it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zinit-gate-"));
    try {
      z = await Zinit.boot({
        services: {
          "gated.yaml": `exec: sleep 1000\ntest: test -e ${dir}/ready\n`,
          "after-gated.yaml": "exec: sleep 1000\nafter: [gated]\n",
        },
      });
      await z.waitState("gated", "Spawned");
      expect((await z.list())["after-gated"]).toBe("Blocked");
      // Its test fails, and is retried, until the marker exists.
      await outputMatches(z, /service gated: test exited with code 1 \(attempt 1\); retrying in/);
      expect(await z.list()).toMatchObject({ gated: "Spawned", "after-gated": "Blocked" });
      writeFileSync(join(dir, "ready"), "");
      await z.waitState("gated", "Running");
      await z.waitState("after-gated", "Running");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("crash -> restart with a new pid; exit codes in upstream's state strings", async () => {
    z = await Zinit.boot({ services: { "svc.yaml": "exec: sleep 1000\n" } });
    await z.waitState("svc", "Running");
    const first = (await z.status("svc")).pid;
    await z.rpc("service_kill", ["svc", "SIGKILL"]);
    await z.waitFor(
      async () => {
        const s = await z!.status("svc");
        return s.pid !== 0 && s.pid !== first && s.state === "Running";
      },
      10_000,
      "restart",
    );
    expect(z.output).toContain(`service svc killed by SIGKILL; restarting`);

    // A crash loop backs off but keeps restarting; the state shows the exit.
    await z.rpc("service_stop", ["svc"]);
    expect(await z.status("svc")).toMatchObject({ pid: 0, target: "Down" });
    expect((await z.status("svc")).state).toMatch(
      /^Error\(Signaled\(Pid\(\d+\), SIGTERM, false\)\)$/,
    );
  });

  test("a service that ignores SIGTERM with grandchildren is fully gone after shutdown_timeout", async () => {
    z = await Zinit.boot({
      services: {
        "stubborn.yaml": [
          'exec: sh -c \'trap "" TERM; (trap "" TERM; setsid sh -c "trap \\"\\" TERM; sleep 1000" & sleep 1000) & sleep 1000 & wait\'',
          "shutdown_timeout: 1",
          "",
        ].join("\n"),
      },
    });
    await z.waitState("stubborn", "Running");
    await z.waitFor(
      () => z!.namespaceProcs().filter((p) => p.comm === "sleep").length === 3,
      10_000,
      "3 sleeps",
    );
    const started = performance.now();
    await z.rpc("service_stop", ["stubborn"]);
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(900);
    // Only the daemon is left in the namespace: the setsid'd grandchild is gone too.
    expect(z.namespaceProcs().map((p) => p.comm)).toEqual(["zinit"]);
    expect(await z.status("stubborn")).toMatchObject({ pid: 0, target: "Down" });
    expect(z.output).toContain("service stubborn did not stop in 1 s: sending SIGKILL");
  });

  test("200 orphaned grandchildren leave zero zombies", async () => {
    z = await Zinit.boot({
      services: {
        "forker.yaml":
          "exec: sh -c 'for i in $(seq 200); do (sleep 0.2 &) ; done'\noneshot: true\n",
      },
    });
    await z.waitState("forker", "Success");
    await z.waitFor(() => z!.namespaceProcs().length === 1, 15_000, "every orphan reaped");
    expect(z.namespaceProcs().filter((p) => p.state === "Z")).toEqual([]);
  });

  test("a bad YAML file next to good ones: one clear error, the others run", async () => {
    z = await Zinit.boot({
      services: {
        "good.yaml": "exec: sleep 1000\nshutdown_timout: 3\n",
        "broken.yaml": "exec: [unclosed\n",
        "noexec.yaml": "test: true\n",
        "badsig.yaml": "exec: sleep 1\nsignal:\n  stop: SIGFOO\n",
      },
    });
    await z.waitState("good", "Running");
    expect(Object.keys(await z.list())).toEqual(["good"]);
    // One line per file, once: the file, the line and column, the field.
    expect([...(z.output.match(/^zinit: ERROR skipping service file: .*$/gm) ?? [])]).toEqual(
      [
        "badsig.yaml:3:9: signal.stop: unknown signal 'SIGFOO'",
        "broken.yaml:2:1: Flow sequence in block collection must be sufficiently indented and end with a ]",
        "noexec.yaml:1:1: exec: missing exec directive",
      ].map((line) => `zinit: ERROR skipping service file: ${join(z!.configDir, line)}`),
    );
    // An unknown key loads the file, with a warning naming the key it was meant to be.
    expect(z.output).toContain(
      `zinit: WARN ${join(z.configDir, "good.yaml")}:2:1: shutdown_timout: unknown key, ignored; did you mean 'shutdown_timeout'?\n`,
    );
  });

  test("a service with a missing binary: Failure naming the file, retried", async () => {
    z = await Zinit.boot({
      services: {
        "ghost.yaml": "exec: /nonexistent/bin/ghost --flag\n",
        "nobin.yaml": "exec: no-such-binary --flag\nenv:\n  PATH: /usr/sbin:/usr/bin:/bin\n",
      },
    });
    await z.waitState("ghost", "Failure");
    await z.waitState("nobin", "Failure");
    expect(z.output).toContain(
      "service ghost failed to start: '/nonexistent/bin/ghost': No such file or directory (os error 2)",
    );
    // A bare name: the service's own PATH, which is what was searched.
    const why = "failed to start: 'no-such-binary' not found in PATH (/usr/sbin:/usr/bin:/bin)";
    expect(z.output).toContain(`zinit: ERROR service nobin ${why}; restarting in`);
    const status = await cli(z.socket, "status", "nobin");
    expect(status.code).toBe(0);
    expect(status.stdout).toContain("state: Failure\n");
    expect(status.stderr).toStartWith(`zinit: nobin is not running: ${why}`);
    const log = await cli(z.socket, "log", "-s", "zinit");
    expect(log.stdout).toContain(`[-] zinit: service nobin ${why}; restarting in`);
    await z.waitFor(
      () => (z!.output.match(/service ghost failed to start/g) ?? []).length >= 3,
      10_000,
      "retries",
    );
    await expect(z.rpc("service_status", ["nope"])).rejects.toBeInstanceOf(ReplyError);
  });
});
