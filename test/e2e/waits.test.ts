// The lifecycle verbs against the compiled daemon as PID 1: waits that happen in the daemon and
// their exit codes, `status` saying why, `ready`, bulk stop/start, and `events` following real
// changes.

import { expect, test } from "bun:test";
import { LiveCli } from "../cli/fake-zinit.ts";
import { AS_ROOT } from "../helpers/privilege.ts";
import { cli, ZINIT, Zinit } from "../helpers/zinit.ts";

let z: Zinit;

AS_ROOT.beforeAll(async () => {
  z = await Zinit.boot({
    services: {
      "good.yaml": "exec: sleep 1000\n",
      "dep.yaml": "exec: sleep 1000\nafter: [good]\n",
      "slow.yaml": "exec: sleep 1000\ntest: sleep 1\n",
      "never.yaml": "exec: sleep 1000\ntest: 'false'\n",
      "bad.yaml": "exec: sh -c 'exit 3'\noneshot: true\n",
    },
  });
  await z.waitState("dep", "Running");
  await z.waitState("slow", "Running");
  await z.waitState("bad", /^Error\(Exited\(Pid\(\d+\), 3\)\)$/);
});

AS_ROOT.afterAll(async () => {
  await z?.stop();
});

const timed = async (...args: string[]) => {
  const t0 = performance.now();
  const out = await cli(z.socket, ...args);
  return { ...out, ms: performance.now() - t0 };
};

AS_ROOT.describe("waits in the daemon", () => {
  test("start --wait returns once the service is Running (its test passed): exit 0", async () => {
    expect((await cli(z.socket, "stop", "slow")).code).toBe(0);
    const out = await timed("start", "slow", "--wait", "--timeout", "20");
    expect(out).toMatchObject({ code: 0, stdout: "", stderr: "" });
    // Its test takes a second: the wait was real.
    expect(out.ms).toBeGreaterThan(900);
    expect((await z.status("slow")).state).toBe("Running");
  });

  test("start --wait on a service that fails for good: exit 2, saying why", async () => {
    const out = await cli(z.socket, "start", "bad", "--wait", "--timeout", "20");
    expect(out.code).toBe(2);
    expect(out.stdout).toBe("");
    expect(out.stderr).toMatch(
      /^zinit: services cannot get running: bad is Error\(Exited\(Pid\(\d+\), 3\)\) \(exited with code 3\)\n$/,
    );
  });

  test("wait --timeout: exit 1 once the time is up, naming what is missing", async () => {
    const out = await timed("wait", "never", "good", "--timeout", "1");
    expect(out.code).toBe(1);
    expect(out.ms).toBeGreaterThan(900);
    expect(out.stderr).toMatch(
      /^zinit: timed out after 1 s waiting for services to be running: never is Spawned \(test exited with code 1 \(attempt \d+\); retrying in [\d.]+ m?s\)\n$/,
    );
    expect(await cli(z.socket, "wait", "good", "dep", "--for", "running")).toEqual({
      code: 0,
      stdout: "",
      stderr: "",
    });
    expect((await cli(z.socket, "wait", "bad", "--for", "failed")).code).toBe(0);
    expect((await cli(z.socket, "wait", "nope")).stderr).toBe(
      "zinit: waiting for services: service 'nope' not found\n",
    );
  });
});

AS_ROOT.describe("status and ready", () => {
  test("status NAME of a service that is not Running: upstream's YAML, and why on stderr", async () => {
    const s = await z.status("never");
    const out = await cli(z.socket, "status", "never");
    expect(out.code).toBe(0);
    expect(out.stdout).toBe(
      `---\nname: never\npid: ${s.pid}\nstate: Spawned\ntarget: Up\nafter: {}\n`,
    );
    expect(out.stderr).toMatch(
      /^zinit: never is not running: test exited with code 1 \(attempt \d+\); retrying in [\d.]+ m?s\n$/,
    );
    const v = await cli(z.socket, "status", "-v", "dep");
    expect(v.stdout).toContain("\nphase: running\nready: true\nreason: ready\nrestarts: 0\n");
    expect(v.stdout).toContain("\nshutdown_timeout: 10\n");
    const all = JSON.parse((await cli(z.socket, "status", "--json")).stdout);
    expect(all.map((d: { name: string }) => d.name)).toEqual([
      "bad",
      "dep",
      "good",
      "never",
      "slow",
    ]);
  });

  test("ready: 1 naming what is not ready; 0 for services that are", async () => {
    const not = await cli(z.socket, "ready");
    expect(not.code).toBe(1);
    expect(not.stderr).toMatch(
      /^zinit: not ready: bad \(Error\(Exited\(Pid\(\d+\), 3\)\): exited with code 3\), never \(Spawned: test exited/,
    );
    expect(await cli(z.socket, "ready", "good", "dep")).toEqual({
      code: 0,
      stdout: "",
      stderr: "",
    });
  });
});

AS_ROOT.describe("events and bulk actions", () => {
  test("events shows a restart as it happens; Ctrl-C exits 0", async () => {
    const follower = new LiveCli(
      Bun.spawn([ZINIT, "-s", z.socket, "events"], { stdout: "pipe", stderr: "pipe" }),
    );
    await follower.waitForStdout(" slow Running ");
    const before = (await z.status("good")).pid;
    expect((await cli(z.socket, "restart", "good")).code).toBe(0);
    await follower.waitForStdout(" good Running target=Up pid=");
    follower.proc.kill("SIGINT");
    const out = await follower.finish();
    expect(out.code).toBe(0);
    const good = out.stdout.split("\n").filter((l) => / good /.test(l));
    // The snapshot line, then the stop and the new run, each with its time.
    expect(good[0]).toMatch(
      new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z good Running target=Up pid=${before} ready$`),
    );
    expect(good.slice(1).map((l) => l.replace(/^\S+ good /, ""))).toEqual([
      `Running target=Down pid=${before} stopping`,
      `Error(Signaled(Pid(${before}), SIGTERM, false)) target=Down pid=0 signal=15 stopping`,
      `Error(Signaled(Pid(${before}), SIGTERM, false)) target=Down pid=0 stopped`,
      `Error(Signaled(Pid(${before}), SIGTERM, false)) target=Up pid=0 starting`,
      `Running target=Up pid=${(await z.status("good")).pid} ready`,
    ]);
  });

  test("stop --all --wait stops everything, then start --all brings it back", async () => {
    expect(await cli(z.socket, "stop", "--all", "--wait", "--timeout", "30")).toEqual({
      code: 0,
      stdout: "",
      stderr: "",
    });
    const list = await z.list();
    for (const name of Object.keys(list)) expect((await z.status(name)).target).toBe("Down");
    expect(z.namespaceProcs().filter((p) => p.comm === "sleep")).toEqual([]);
    expect((await cli(z.socket, "start", "good", "dep", "--wait", "--timeout", "20")).code).toBe(0);
    expect(await z.list()).toMatchObject({ good: "Running", dep: "Running" });
  });
});
