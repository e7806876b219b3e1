// PID 1 under pressure: shutdowns that must not stall, thousands of services, fds running out,
// crash storms, and processes that outlived their services. The compiled daemon as PID 1 of a
// fresh PID namespace (root).

import { afterEach, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { AS_ROOT } from "../helpers/privilege.ts";
import { Zinit } from "../helpers/zinit.ts";
import { outputMatches } from "./lib.ts";

setDefaultTimeout(60_000);

let z: Zinit | null = null;
afterEach(async () => {
  await z?.stop();
  z = null;
});

const trapTerm = `exec: sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done'\n`;

/** N services in a chain (s1 after s0, …), each `sleep 1000` with no output pipes. */
function chain(n: number): Record<string, string> {
  const files: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    files[`s${i}.yaml`] = `exec: sleep 1000\nlog: none\n${i === 0 ? "" : `after: [s${i - 1}]\n`}`;
  }
  return files;
}

AS_ROOT.describe("shutdown", () => {
  test("a dependent whose process already exited never stalls the ordered shutdown (50 runs)", async () => {
    const slow: number[] = [];
    for (let run = 0; run < 50; run++) {
      z = await Zinit.boot({
        services: {
          "base.yaml": trapTerm,
          "mid.yaml": `${trapTerm}after: [base]\n`,
          "top.yaml": `${trapTerm}after: [mid]\n`,
          "solo.yaml": trapTerm,
        },
      });
      await z.waitState("top", "Running");
      const started = performance.now();
      await z.rpc("system_shutdown");
      expect(await z.exited).toBe(0);
      const took = performance.now() - started;
      if (took >= 1_000) slow.push(Math.round(took));
      await z.stop();
      z = null;
    }
    expect(slow).toEqual([]);
  }, 180_000);

  test("a 10,000-service chain starts and stops in reverse order, in time linear in N", async () => {
    const timeShutdown = async (n: number) => {
      z = await Zinit.boot({ services: chain(n) });
      await z.waitState(`s${n - 1}`, "Running", 120_000);
      const started = performance.now();
      z.signal("SIGTERM");
      expect(await z.exited).toBe(0);
      const took = performance.now() - started;
      // Reverse order: the last of the chain is stopped first, s0 last.
      const stops = [...z.output.matchAll(/stopped (s\d+) in/g)].map((m) => m[1]);
      expect(stops).toHaveLength(n);
      expect(stops[0]).toBe(`s${n - 1}`);
      expect(stops.at(-1)).toBe("s0");
      await z.stop();
      z = null;
      return took;
    };
    const small = await timeShutdown(2_500);
    const large = await timeShutdown(10_000);
    // Linear: 4× the services, about 4× the time (quadratic would be 16×).
    console.log(`shutdown of 2,500: ${small.toFixed(0)} ms; of 10,000: ${large.toFixed(0)} ms`);
    expect(large / small).toBeLessThan(8);
  }, 600_000);
});

AS_ROOT.describe("resources", () => {
  test("out of fds: spawns fail with EMFILE and back off, the socket keeps answering, freed fds are used", async () => {
    const services: Record<string, string> = {};
    for (let i = 0; i < 300; i++) services[`w${i}.yaml`] = "exec: sleep 1000\n";
    // 300 ring-logged services need 600 pipe fds; zinit keeps 256 of 700 for itself.
    z = await Zinit.boot({ services, prefix: ["prlimit", "--nofile=700:700"] });
    await outputMatches(
      z,
      /failed to start: pipe2: Too many open files \(os error 24\): zinit keeps 256 fds/,
    );
    const list = await z.list();
    const running = Object.values(list).filter((s) => s === "Running").length;
    expect(running).toBeGreaterThan(100);
    expect(running).toBeLessThan(300);
    expect(Object.values(list).filter((s) => s === "Failure").length).toBe(300 - running);
    // Stopping some frees fds; the failed ones get them on their next retry.
    const names = Object.keys(list)
      .filter((n) => list[n] === "Running")
      .slice(0, 60);
    await Promise.all(names.map((n) => z?.rpc("service_stop", [n])));
    await z.waitFor(
      async () => Object.values(await z!.list()).filter((s) => s === "Running").length >= running,
      30_000,
      "failed services to start once fds are free",
    );
  }, 120_000);

  test("a crash storm: reaping keeps up and the socket answers within 100 ms", async () => {
    const services: Record<string, string> = {};
    for (let i = 0; i < 1000; i++) {
      services[`c${i}.yaml`] = "exec: sh -c 'sleep 0.2; exit 1'\nlog: none\n";
    }
    z = await Zinit.boot({ services });
    await z.waitFor(
      async () => Object.keys(await z!.list()).length === 1000,
      60_000,
      "all monitored",
    );
    const rtts: number[] = [];
    let maxZombies = 0;
    let samples = 0;
    const until = performance.now() + 10_000;
    while (performance.now() < until) {
      const t0 = performance.now();
      await z.rpc("service_list");
      rtts.push(performance.now() - t0);
      // Counting zombies reads every /proc entry: not on every round, or the test itself loads the box.
      if (samples++ % 10 === 0) {
        maxZombies = Math.max(maxZombies, z.namespaceProcs().filter((p) => p.state === "Z").length);
      }
      await Bun.sleep(20);
    }
    rtts.sort((a, b) => a - b);
    const p99 = rtts[Math.floor(rtts.length * 0.99)] ?? 0;
    console.log(
      `crash storm: p99 ${p99.toFixed(1)} ms over ${rtts.length} calls; max zombies ${maxZombies}`,
    );
    expect(p99).toBeLessThan(100);
    expect(maxZombies).toBeLessThan(50);
  }, 120_000);
});

AS_ROOT.describe("priorities", () => {
  test("zinit's event loop and its session run at nice -10; every service starts at nice 0", async () => {
    z = await Zinit.boot({
      services: { "nice.yaml": "exec: sh -c 'cut -d\" \" -f19 /proc/self/stat; sleep 1000'\n" },
      // In a session of its own, as a container runtime starts it: zinit leaves a terminal's
      // session (CI's pty, a user's shell) at the user's priority.
      prefix: ["setsid"],
    });
    await z.waitFor(
      async () => ((await z!.rpc("stream_currentLogs", ["nice"])) as string[]).length > 1,
      10_000,
      "its line",
    );
    const lines = (await z.rpc("stream_currentLogs", ["nice"])) as string[];
    expect(lines.at(-1)).toBe("[+] nice: 0");
    const stat = readFileSync(`/proc/${z.hostPid()}/stat`, "utf8");
    expect(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]).toBe("-10");
    // Autogroups (when the kernel has them): each service is a session, so an autogroup, of its
    // own; nice counts only inside one, so zinit's own session must be weighted too.
    const sleeper = z.namespaceProcs().find((p) => p.comm === "sleep");
    const autogroup = (pid: number) => readFileSync(`/proc/${pid}/autogroup`, "utf8").trim();
    if (sleeper && existsSync(`/proc/${sleeper.pid}/autogroup`)) {
      expect(autogroup(z.hostPid())).toEndWith(" nice -10");
      expect(autogroup(sleeper.pid)).toEndWith(" nice 0");
      expect(autogroup(sleeper.pid).split(" ")[0]).not.toBe(autogroup(z.hostPid()).split(" ")[0]);
    } else {
      expect(sleeper).toBeDefined();
    }
  });
});

AS_ROOT.describe("the final sweep", () => {
  test("in a container, a process that outlived its service gets SIGTERM and is named", async () => {
    z = await Zinit.boot({
      services: {
        "spawner.yaml": `exec: sh -c 'setsid sh -c "trap \\"exit 0\\" TERM; while :; do sleep 0.1; done" & exit 0'\noneshot: true\n`,
      },
    });
    await z.waitState("spawner", "Success");
    await z.waitFor(
      () => z!.namespaceProcs().some((p) => p.comm === "sh" && p.nspid !== 1),
      10_000,
      "the escapee",
    );
    const started = performance.now();
    z.signal("SIGTERM");
    expect(await z.exited).toBe(0);
    // It ended on SIGTERM, well before the 2 s grace would have sent SIGKILL.
    expect(performance.now() - started).toBeLessThan(1_900);
    await outputMatches(
      z,
      /\d process\(es\) outlived their services: \d+ \(sh\).*; sending SIGTERM/,
    );
    expect(z.output).not.toContain("sending SIGKILL");
  });
});
