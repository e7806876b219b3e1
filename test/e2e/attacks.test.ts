// The compiled daemon as PID 1, in a memory cgroup, under the attacks that used to grow it by
// hundreds of MB: an amplifying batch, 20 MB of `{}` never read, 300 dribblers plus 64 parked 9 MB
// frames. zinit must survive, its RSS stay under the bound the README states, and another client's
// service_list stay fast meanwhile.

import { expect } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Conn } from "../helpers/conn.ts";
import { asRootWith } from "../helpers/privilege.ts";
import { Zinit } from "../helpers/zinit.ts";

const CGROUP_ROOT = "/sys/fs/cgroup/memory";
/** The documented bound (README, "Limits"): RSS at rest plus what the default limits let be held. */
const RSS_BOUND_MB = 350;
const MEMORY_LIMIT = 768 * 1024 * 1024;

const CGROUP = asRootWith(
  existsSync(`${CGROUP_ROOT}/cgroup.procs`)
    ? null
    : `no cgroup v1 memory controller at ${CGROUP_ROOT}`,
);

let z: Zinit;
let cgroup = "";

CGROUP.beforeAll(async () => {
  z = await Zinit.boot({ services: { "idle.yaml": "exec: sleep 1000\n" } });
  cgroup = `${CGROUP_ROOT}/zinit-attacks-${process.pid}`;
  mkdirSync(cgroup, { recursive: true });
  writeFileSync(`${cgroup}/memory.limit_in_bytes`, String(MEMORY_LIMIT));
  writeFileSync(`${cgroup}/cgroup.procs`, String(z.hostPid()));
});

CGROUP.afterAll(async () => {
  await z.stop();
  try {
    rmdirSync(cgroup);
  } catch {
    // Still draining its last pages; the kernel removes an empty group later.
  }
});

const rssMb = (pid: number) =>
  Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;

const ATTACKER = join(import.meta.dir, "fixtures/attacker.ts");

CGROUP.test(
  "amplifying batch, 20 MB unread, 300 dribblers + 64 parked 9 MB frames: zinit survives, bounded, fast",
  async () => {
    const pid = z.hostPid();
    const before = rssMb(pid);
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMb(pid));
    }, 20);
    let kill = () => {};
    try {
      // 1. A 518 KB batch of rpc.discover (upstream grew to 700-850 MB): refused as too long.
      const batch = `[${Array.from({ length: 10_000 }, (_, i) => `{"jsonrpc":"2.0","id":${i},"method":"rpc.discover"}`).join(",")}]`;
      const a = new Conn(z.socket);
      await a.send(batch);
      expect((await a.count(1))[0]?.error?.code).toBe(-32010);
      // … and at the length limit, its reply is capped.
      const full = `[${Array.from({ length: 1024 }, (_, i) => `{"jsonrpc":"2.0","id":${i},"method":"rpc.discover"}`).join(",")}]`;
      await a.send(full);
      expect((await a.count(2))[1]?.error?.code).toBe(-32011);
      a.close();

      // 2 and 3 run in their own process, so the probe below measures zinit, not this one.
      const attacker = Bun.spawn([process.execPath, ATTACKER, z.socket], {
        stdout: "pipe",
        stderr: "inherit",
      });
      const reader = attacker.stdout.getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toBe("attacking\n");
      kill = () => attacker.kill("SIGKILL");

      // Meanwhile: another client's service_list, 300 times.
      const probe = new Conn(z.socket);
      const times: number[] = [];
      for (let i = 0; i < 300; i++) {
        const t0 = performance.now();
        const reply = await probe.call(i + 1, "service_list");
        times.push(performance.now() - t0);
        expect(reply.result).toEqual({ idle: "Running" });
        await Bun.sleep(10);
      }
      probe.close();
      times.sort((x, y) => x - y);
      const p99 = times[Math.floor(times.length * 0.99)] as number;
      console.log(
        `attacks: RSS ${before.toFixed(0)} MB at rest, peak ${peak.toFixed(0)} MB; service_list p50 ${times[150]?.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms`,
      );
      // The target (README, "Limits"). Measured 15-16 ms on this 2-core machine with the
      // attacker beside it; it was 80-135 ms while a 512 KB read of `{}` was split into frames
      // in one turn and the inside of a parked 9 MB string was scanned byte by byte.
      expect(p99).toBeLessThan(50);
      expect(peak).toBeLessThan(RSS_BOUND_MB);
      // Still alive and answering, never OOM-killed in its cgroup.
      expect(z.proc.exitCode).toBeNull();
      expect(Number(readFileSync(`${cgroup}/memory.failcnt`, "utf8"))).toBe(0);
    } finally {
      clearInterval(sampler);
      kill();
    }
    expect(await z.list()).toEqual({ idle: "Running" });
  },
  120_000,
);
