// Every CLI verb against a live daemon (the compiled binary as PID 1): output and exit codes.

import { expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AS_ROOT } from "../helpers/privilege.ts";
import { cli, ZINIT, Zinit } from "../helpers/zinit.ts";

let z: Zinit;
const marker = `/tmp/zinit-cli-usr1-${process.pid}`;

AS_ROOT.beforeAll(async () => {
  z = await Zinit.boot({
    services: {
      "sleeper.yaml": "exec: sleep 1000\n",
      "talker.yaml": "exec: sh -c 'echo hello from talker; echo oops >&2; sleep 1000'\n",
      "trapper.yaml": `exec: sh -c 'trap "touch ${marker}" USR1; while :; do sleep 0.1; done'\n`,
      "family.yaml": "exec: sh -c 'sleep 1000 & sleep 1000'\n",
      "dep.yaml": "exec: sleep 1000\nafter: [sleeper]\n",
    },
  });
  await z.waitState("dep", "Running");
  await z.waitState("trapper", "Running");
});

AS_ROOT.afterAll(async () => {
  await z?.stop();
  Bun.spawnSync(["rm", "-f", marker]);
});

AS_ROOT.describe("CLI against a live daemon", () => {
  test("list (and no subcommand) print upstream's YAML", async () => {
    const expected =
      "---\ndep: Running\nfamily: Running\nsleeper: Running\ntalker: Running\ntrapper: Running\n";
    expect(await cli(z.socket, "list")).toEqual({ code: 0, stdout: expected, stderr: "" });
    expect((await cli(z.socket)).stdout).toBe(expected);
    const json = await cli(z.socket, "--json", "list");
    expect(JSON.parse(json.stdout)).toMatchObject({ sleeper: "Running" });
  });

  test("status", async () => {
    const pid = (await z.status("dep")).pid;
    const out = await cli(z.socket, "status", "dep");
    expect(out).toEqual({
      code: 0,
      stdout: `---\nname: dep\npid: ${pid}\nstate: Running\ntarget: Up\nafter:\n  sleeper: Running\n`,
      stderr: "",
    });
  });

  test("an error is one line on stderr and exit 1", async () => {
    const out = await cli(z.socket, "status", "nope");
    expect(out.code).toBe(1);
    expect(out.stdout).toBe("");
    expect(out.stderr).toBe("zinit: getting status: service 'nope' not found\n");
    const down = await cli(join(z.dir, "missing.sock"), "list");
    expect(down.code).toBe(1);
    expect(down.stderr.trim().split("\n")).toHaveLength(1);
    expect(down.stderr).toContain("No such file or directory");
  });

  test("stop, start, restart", async () => {
    const before = (await z.status("sleeper")).pid;
    expect(z.namespaceProcs().some((p) => p.nspid === before && p.comm === "sleep")).toBe(true);
    expect(await cli(z.socket, "stop", "sleeper")).toEqual({ code: 0, stdout: "", stderr: "" });
    // stop returns once the process is gone.
    expect(before).toBeGreaterThan(1);
    expect(z.namespaceProcs().some((p) => p.nspid === before)).toBe(false);
    expect(await z.status("sleeper")).toMatchObject({ pid: 0, target: "Down" });
    expect((await cli(z.socket, "start", "sleeper")).code).toBe(0);
    await z.waitState("sleeper", "Running");
    const started = (await z.status("sleeper")).pid;
    expect((await cli(z.socket, "restart", "sleeper")).code).toBe(0);
    await z.waitState("sleeper", "Running");
    const restarted = (await z.status("sleeper")).pid;
    expect(restarted).not.toBe(started);
    expect(restarted).toBeGreaterThan(0);
  });

  test("kill delivers the signal", async () => {
    Bun.spawnSync(["rm", "-f", marker]);
    expect((await cli(z.socket, "kill", "trapper", "SIGUSR1")).code).toBe(0);
    await z.waitFor(() => existsSync(marker), 10_000, "USR1 marker");
    // The CLI also takes names without SIG and numbers (the RPC still gets SIGUSR1).
    for (const sig of ["USR1", "usr1", "10"]) {
      Bun.spawnSync(["rm", "-f", marker]);
      expect(await cli(z.socket, "kill", "trapper", sig)).toMatchObject({ code: 0, stderr: "" });
      await z.waitFor(() => existsSync(marker), 10_000, `USR1 marker after kill ${sig}`);
    }
    const bad = await cli(z.socket, "kill", "trapper", "USR99");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe("zinit: parsing signal: invalid signal 'USR99'\n");
  });

  test("monitor a new file, forget a stopped service", async () => {
    writeFileSync(join(z.configDir, "late.yaml"), "exec: sleep 1000\n");
    expect((await cli(z.socket, "monitor", "late")).code).toBe(0);
    await z.waitState("late", "Running");
    const again = await cli(z.socket, "monitor", "late");
    expect(again).toMatchObject({
      code: 1,
      stderr: "zinit: monitoring service: service 'late' already monitored\n",
    });
    const up = await cli(z.socket, "forget", "late");
    expect(up).toMatchObject({
      code: 1,
      stderr:
        "zinit: forgetting service: service 'late' is up: its target is Up; `zinit stop late` first\n",
    });
    expect((await cli(z.socket, "stop", "late")).code).toBe(0);
    expect((await cli(z.socket, "forget", "late")).code).toBe(0);
    expect(Object.keys(await z.list())).not.toContain("late");
  });

  test("monitor of a broken or missing file prints why, and the daemon logs it", async () => {
    writeFileSync(join(z.configDir, "broken.yaml"), "exec: sleep 1000\noneshot: maybe\n");
    const cause = `${join(z.configDir, "broken.yaml")}:2:10: oneshot: expected true or false, got "maybe"`;
    expect(await cli(z.socket, "monitor", "broken")).toEqual({
      code: 1,
      stdout: "",
      stderr: `zinit: monitoring service: failed to load 'broken.yaml': ${cause}\n`,
    });
    await z.waitFor(
      () => z.output.includes(`zinit: ERROR skipping service file: ${cause}\n`),
      10_000,
      "the daemon's log line",
    );
    expect((await cli(z.socket, "monitor", "ghost")).stderr).toBe(
      `zinit: monitoring service: failed to load 'ghost.yaml': ${join(z.configDir, "ghost.yaml")}: no such file (nor ghost.yml)\n`,
    );
  });

  test("check, in the compiled binary: the examples, and the daemon's config dir", async () => {
    const good = await cli(z.socket, "check", join(import.meta.dir, "../../examples"));
    expect(good).toEqual({
      code: 0,
      stdout: "4 service files checked: 0 errors, 0 warnings\n",
      stderr: "",
    });
    // The live config dir, with the broken.yaml of the monitor test above.
    const live = await cli(z.socket, "check", "-c", z.configDir);
    expect(live.code).toBe(1);
    expect(live.stdout).toContain(
      `${join(z.configDir, "broken.yaml")}:2:10: oneshot: expected true or false, got "maybe"\n`,
    );
  });

  test("log -s prints the ring filtered by service", async () => {
    await z.waitFor(
      async () => (await cli(z.socket, "log", "-s", "talker")).stdout.includes("oops"),
      10_000,
      "talker output",
    );
    const out = await cli(z.socket, "log", "-s", "talker");
    expect(out.code).toBe(0);
    expect(out.stdout).toBe(
      "[-] talker: ------------ [start] ------------\n[+] talker: hello from talker\n[-] talker: oops\n",
    );
  });

  test("log follows new lines; Ctrl-C exits 0", async () => {
    const proc = Bun.spawn([ZINIT, "-s", z.socket, "log", "sleeper"], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const reader = proc.stdout.getReader();
    let seen = "";
    const wait = (async () => {
      while (!seen.includes("[-] sleeper: ------------ [start] ------------")) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += new TextDecoder().decode(value);
      }
    })();
    // Give the follower time to subscribe, then make a new line appear.
    await z.waitFor(() => z.namespaceProcs().length > 0, 1000);
    await Bun.sleep(300);
    await cli(z.socket, "kill", "sleeper", "SIGKILL");
    await wait;
    expect(seen).toContain("[-] sleeper: ------------ [start] ------------");
    proc.kill("SIGINT");
    expect(await proc.exited).toBe(0);
  });

  test("stats: RSS bytes and every descendant", async () => {
    const out = await cli(z.socket, "--json", "stats", "family");
    expect(out.code).toBe(0);
    const stats = JSON.parse(out.stdout);
    expect(stats.name).toBe("family");
    expect(stats.memory_usage).toBeGreaterThan(0);
    expect(stats.children).toHaveLength(2);
    const yaml = await cli(z.socket, "stats", "family");
    expect(yaml.stdout).toStartWith(`---\nname: family\npid: ${stats.pid}\nmemory_usage: `);
    expect(yaml.stdout).toContain("children:\n  - pid: ");
  });

  test("proxy serves HTTP until Ctrl-C", async () => {
    const port = 20000 + (process.pid % 20000);
    const proc = Bun.spawn([ZINIT, "-s", z.socket, "proxy", "-a", `127.0.0.1:${port}`], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id: 7,
      method: "service_status",
      params: ["dep"],
    });
    let reply: unknown = null;
    await z.waitFor(
      async () => {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/`, {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body,
          });
          reply = await res.json();
          return true;
        } catch {
          return false;
        }
      },
      10_000,
      "HTTP server",
    );
    expect(reply).toMatchObject({
      jsonrpc: "2.0",
      id: 7,
      result: { name: "dep", state: "Running" },
    });
    proc.kill("SIGINT");
    expect(await proc.exited).toBe(0);
    const stdout = await new Response(proc.stdout).text();
    expect(stdout).toContain(`HTTP/RPC server started at 127.0.0.1:${port}`);
    expect(stdout).toContain("HTTP/RPC server stopped");
    await expect(fetch(`http://127.0.0.1:${port}/`, { method: "POST", body })).rejects.toThrow();
  });

  test("--version and --help", async () => {
    const pkg = await Bun.file(join(import.meta.dir, "../../package.json")).json();
    // ZOS's client splits `zinit -V` and wants exactly two words before it powers a node off.
    for (const flag of ["--version", "-V"]) {
      const v = await cli(z.socket, flag);
      expect(v.code).toBe(0);
      expect(v.stdout).toBe(`zinit v${pkg.version}\n`);
      expect(v.stdout.trim().split(" ")).toHaveLength(2);
    }
    // The revision moved to `-V -d` and to the daemon's start-up line.
    expect(z.output).toMatch(/zinit v\S+ \(\S+\): loaded \d+ service\(s\)/);
    const detailed = await cli(z.socket, "-V", "-d");
    expect(detailed.stdout).toMatch(
      new RegExp(`^zinit v${pkg.version.replaceAll(".", "\\.")} \\([0-9a-f]{4,}`),
    );
    const h = await cli(z.socket, "--help");
    expect(h.code).toBe(0);
    for (const verb of [
      "init",
      "list",
      "status",
      "start",
      "stop",
      "restart",
      "monitor",
      "forget",
      "kill",
      "log",
      "shutdown",
      "reboot",
      "stats",
      "proxy",
    ]) {
      expect(h.stdout).toContain(`    ${verb} `);
    }
  });
});

AS_ROOT.test("shutdown replies, stops everything and the daemon exits 0", async () => {
  const own = await Zinit.boot({
    services: { "a.yaml": "exec: sleep 1000\n", "b.yaml": "exec: sleep 1000\nafter: [a]\n" },
  });
  await own.waitState("b", "Running");
  expect(await cli(own.socket, "shutdown")).toEqual({ code: 0, stdout: "", stderr: "" });
  expect(await own.exited).toBe(0);
  expect(own.output).toContain("all services stopped; exiting");
  await own.stop();
});
