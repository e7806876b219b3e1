// A full pids cgroup (docker --pids-limit reached by a leaking service) must not abort PID 1:
// once no fork or clone can succeed, the runtime may not need a new thread. The daemon runs in
// its own pids cgroup from its first instruction, a service fills it, and then the limit is set
// below what is in use, so every thread or process the daemon would make from there on fails.
// Needs root and a pids controller (cgroup v1 here; v2 with +pids elsewhere).

import { afterAll, expect } from "bun:test";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { asRootWith } from "../helpers/privilege.ts";
import { rawRequest, ZINIT } from "../helpers/zinit.ts";

const PIDS_ROOT = existsSync("/sys/fs/cgroup/pids/cgroup.procs")
  ? "/sys/fs/cgroup/pids"
  : "/sys/fs/cgroup";
const CG = join(PIDS_ROOT, `zinit-pids-test-${process.pid}`);
const PIDS = asRootWith(
  existsSync(join(PIDS_ROOT, "cgroup.procs")) && existsSync("/sys/fs/cgroup/pids")
    ? null
    : "no cgroup v1 pids controller at /sys/fs/cgroup/pids",
);

const cg = {
  read: (f: string) => readFileSync(join(CG, f), "utf8").trim(),
  write: (f: string, v: string | number) => writeFileSync(join(CG, f), String(v)),
  current: () => Number(cg.read("pids.current")),
  refused: () => Number(cg.read("pids.events").split(/\s+/)[1]),
};

const threadNames = (pid: number) =>
  readdirSync(`/proc/${pid}/task`)
    .map((t) => {
      try {
        return readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim();
      } catch {
        return "(gone)";
      }
    })
    .sort();

async function rpc(
  socket: string,
  method: string,
  params: unknown = [],
): Promise<Record<string, unknown>> {
  const reply = await rawRequest(
    socket,
    `${JSON.stringify({ jsonrpc: "2.0", id: 1, method, params })}\n`,
  );
  return JSON.parse(reply.trim());
}

afterAll(() => {
  if (!existsSync(CG)) return;
  cg.write("pids.max", "max");
  for (let i = 0; i < 50 && cg.current() > 0; i++) {
    for (const p of cg.read("cgroup.procs").split("\n").filter(Boolean)) {
      try {
        process.kill(Number(p), "SIGKILL");
      } catch {
        // gone
      }
    }
    Bun.sleepSync(50);
  }
  rmdirSync(CG);
});

PIDS.test(
  "RPCs, a stop and spawns while the pids cgroup is full: the daemon lives, no thread is added",
  async () => {
    const dir = mkdtempSync("/tmp/zinit-pids-");
    const etc = join(dir, "etc");
    const socket = join(dir, "zinit.sock");
    const go = join(dir, "GO");
    mkdirSync(etc);
    // The leak: on GO it forks 30 sleepers that hold its output pipe, then becomes one itself.
    writeFileSync(
      join(etc, "leak.yaml"),
      `exec: sh -c 'until [ -e ${go} ]; do sleep 0.1; done; for i in $(seq 30); do sleep 3600 & done; exec sleep 3600'\n`,
    );
    writeFileSync(join(etc, "env.yaml"), "exec: sh -c 'env | grep -c BUN_JSC; sleep 3600'\n");
    mkdirSync(CG);
    const daemon = Bun.spawn(
      [
        "sh",
        "-c",
        `echo $$ > ${CG}/cgroup.procs && exec "$0" "$@"`,
        ZINIT,
        "init",
        "-c",
        etc,
        "-s",
        socket,
        "--container",
      ],
      { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
    );
    let out = "";
    for (const s of [daemon.stdout, daemon.stderr]) {
      void (async () => {
        for await (const c of s) out += new TextDecoder().decode(c);
      })();
    }
    try {
      for (let i = 0; i < 200 && !(await rpc(socket, "service_list").catch(() => null)); i++)
        await Bun.sleep(50);
      await Bun.sleep(1_500);
      const before = threadNames(daemon.pid);
      // Nothing a pool or JIT would start later: the main thread, the allocator's, the I/O pool.
      expect(before).toEqual(["Bun Pool 0", "Bun Pool 1", "mi-scavenger", "zinit"]);
      // Services do not inherit the runtime's options.
      const envLines = (await rpc(socket, "stream_currentLogs", ["env"])).result as string[];
      expect(envLines).toContain("[+] env: 0");

      const base = cg.current();
      writeFileSync(go, "");
      for (let i = 0; i < 100 && cg.current() < base + 30; i++) await Bun.sleep(50);
      cg.write("pids.max", 1); // below pids.current: from here on no fork or clone can succeed

      const round = async (tag: string) => {
        expect((await rpc(socket, "service_list")).result).toBeDefined();
        expect((await rpc(socket, "service_create", [`svc-${tag}`, { exec: "true" }])).result).toBe(
          `Service 'svc-${tag}' created successfully`,
        );
        expect(existsSync(join(etc, `svc-${tag}.yaml`))).toBe(true);
        // Its spawn fails with EAGAIN and is retried: a spawn failure, not a crash.
        expect((await rpc(socket, "service_monitor", [`svc-${tag}`])).result).toBeNull();
        if (tag === "a") expect((await rpc(socket, "service_stop", ["leak"])).result).toBeNull();
        for (let i = 0; i < 300; i++) await rpc(socket, "service_list");
      };
      await round("a");
      // JSC's lazy threads would come back after their 10 s idle timeouts: wait past them.
      await Bun.sleep(12_000);
      await round("b");

      expect(cg.refused()).toBeGreaterThan(0);
      expect(daemon.exitCode).toBeNull();
      expect(out).not.toContain("panic");
      expect(out).toMatch(/service svc-a failed to start: .*Resource temporarily unavailable/);
      expect(threadNames(daemon.pid)).toEqual(before);
    } finally {
      cg.write("pids.max", "max");
      daemon.kill("SIGKILL");
      await daemon.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  },
  60_000,
);
