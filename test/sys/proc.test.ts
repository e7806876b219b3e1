import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { libc, SC_PAGESIZE } from "../../src/sys/libc.ts";
import { close } from "../../src/sys/pipe.ts";
import {
  childrenOf,
  listProcs,
  parseStat,
  parseStatmResident,
  readProc,
  sampleStats,
  zombies,
} from "../../src/sys/proc.ts";
import { kill } from "../../src/sys/process.ts";
import { reapNow, startReaper, stopReaper } from "../../src/sys/reaper.ts";
import { spawn } from "../../src/sys/spawn.ts";
import { openPipe } from "../helpers/pipe.ts";
import { firstLine, installReaper, spawnOptions, until, waitExit } from "./harness.ts";

let dir = "";

beforeAll(() => {
  installReaper();
  dir = mkdtempSync(join(tmpdir(), "zinit-proc-"));
});

afterAll(() => {
  stopReaper();
  rmSync(dir, { recursive: true, force: true });
});

// Fields 3..52 of a real stat line (kernel 6.x), after the comm.
const TAIL =
  "S 1 1234 1234 0 -1 4194560 1000 0 0 0 17 4 0 0 20 0 1 0 987654 10000000 500 " +
  "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0";

function startSh(script: string): { pid: number; out: number } {
  const p = openPipe();
  const r = spawn(spawnOptions(["sh", "-c", script], { stdout: p.write }));
  close(p.write);
  if (!r.ok) {
    close(p.read);
    throw new Error(r.error);
  }
  return { pid: r.pid, out: p.read };
}

describe("parseStat", () => {
  test("takes the comm up to the LAST ')', whatever it contains", () => {
    expect(parseStat(`1234 (a) (b c)) ${TAIL}\n`)).toEqual({
      pid: 1234,
      ppid: 1,
      pgid: 1234,
      sid: 1234,
      state: "S",
      starttime: 987654,
      comm: "a) (b c)",
      utime: 17,
      stime: 4,
      rssPages: 500,
    });
    expect(parseStat(`7 () ${TAIL.replace(/^S/, "Z")}`)?.comm).toBe("");
    expect(parseStat(`7 () ${TAIL.replace(/^S/, "Z")}`)?.state).toBe("Z");
  });

  test("rejects malformed lines", () => {
    expect(parseStat("")).toBeNull();
    expect(parseStat("1234 (x S 1 2 3")).toBeNull();
    expect(parseStat("1234 (x) S 1 2")).toBeNull();
    expect(parseStat(`abc (x) ${TAIL}`)).toBeNull();
    expect(parseStat(`12 (x) ${TAIL.replace(" 1234 ", " y ")}`)).toBeNull();
  });

  test("statm resident pages", () => {
    expect(parseStatmResident("2000 345 100 5 0 300 0\n")).toBe(345);
    expect(parseStatmResident("garbage")).toBeNull();
  });
});

describe("/proc readers", () => {
  test("readProc of ourselves and of a process that does not exist", () => {
    const me = readProc(process.pid);
    expect(me?.pid).toBe(process.pid);
    expect(me?.ppid).toBe(process.ppid);
    expect(me?.state).toMatch(/^[RS]$/);
    expect(readProc(0)).toBeNull();
    expect(readProc(-5)).toBeNull();
    expect(readProc(2 ** 31 - 1)).toBeNull();
    expect(listProcs().some((p) => p.pid === process.pid)).toBe(true);
  });

  test("a comm containing ') (' is read intact from a live process", async () => {
    const weird = join(dir, "x) (y z");
    copyFileSync("/bin/sleep", weird);
    chmodSync(weird, 0o755);
    const r = spawn(spawnOptions([weird, "30"]));
    if (!r.ok) throw new Error(r.error);
    await until("exec of the renamed sleep", () => readProc(r.pid)?.comm === "x) (y z");
    const info = readProc(r.pid);
    expect(info).toMatchObject({ pid: r.pid, ppid: process.pid, pgid: r.pid, sid: r.pid });
    expect(kill(r.pid, 9)).toBe(0);
    expect(await waitExit(r.pid)).toEqual({ kind: "signaled", signal: 9, core: false });
  });

  test("childrenOf() lists a child that called setsid; a gone pid has none", async () => {
    const { pid, out } = startSh("setsid sleep 30 >/dev/null 2>&1 & echo $!; wait");
    const { line, rest } = await firstLine(out);
    const grandchild = Number(line);
    await until("setsid in the grandchild", () => readProc(grandchild)?.sid === grandchild);
    expect(childrenOf(pid)).toEqual([grandchild]);
    expect(childrenOf(grandchild)).toEqual([]);
    expect(childrenOf(process.pid)).toContain(pid);
    expect(kill(grandchild, 9)).toBe(0);
    expect(await waitExit(pid)).toEqual({ kind: "exited", code: 0 });
    expect(await rest).toBe("");
    expect(childrenOf(pid)).toEqual([]);
  });

  test("zombies() lists an unreaped child; reapNow() collects it", async () => {
    stopReaper();
    try {
      const r = spawn(spawnOptions(["true"]));
      if (!r.ok) throw new Error(r.error);
      await until("the child to become a zombie", () => readProc(r.pid)?.state === "Z");
      expect(zombies().map((p) => p.pid)).toContain(r.pid);
      reapNow();
      expect(readProc(r.pid)).toBeNull();
    } finally {
      installReaper();
    }
  });

  test("startReaper reaps children that exited before it was installed", async () => {
    stopReaper();
    try {
      const r = spawn(spawnOptions(["sh", "-c", "exit 5"]));
      if (!r.ok) throw new Error(r.error);
      await until("the child to become a zombie", () => readProc(r.pid)?.state === "Z");
      const seen: [number, unknown][] = [];
      startReaper((exits) => {
        for (const { pid, status } of exits) seen.push([pid, status]);
      });
      expect(seen).toEqual([[r.pid, { kind: "exited", code: 5 }]]);
    } finally {
      stopReaper();
      installReaper();
    }
  });

  test("sampleStats: CPU over one window, RSS in bytes, vanished pids left out", async () => {
    const busy = spawn(spawnOptions(["sh", "-c", "while :; do :; done"]));
    const idle = spawn(spawnOptions(["sleep", "30"]));
    if (!busy.ok || !idle.ok) throw new Error("spawn failed");
    try {
      const started = performance.now();
      const stats = await sampleStats([busy.pid, idle.pid, 2 ** 31 - 1], 600);
      expect(performance.now() - started).toBeGreaterThanOrEqual(590);
      expect([...stats.keys()].sort()).toEqual([busy.pid, idle.pid].sort());
      // A spinning shell on a loaded 2-core box still gets a good share of a core.
      expect(stats.get(busy.pid)?.cpu).toBeGreaterThan(20);
      expect(stats.get(busy.pid)?.cpu).toBeLessThanOrEqual(110);
      expect(stats.get(idle.pid)?.cpu).toBeLessThan(5);
      const pages = Number(readFileSync(`/proc/${idle.pid}/statm`, "utf8").split(" ")[1]);
      expect(stats.get(idle.pid)?.rss).toBe(pages * Number(libc.sysconf(SC_PAGESIZE)));
    } finally {
      kill(busy.pid, 9);
      kill(idle.pid, 9);
    }
    expect(await waitExit(busy.pid)).toEqual({ kind: "signaled", signal: 9, core: false });
    expect(await waitExit(idle.pid)).toEqual({ kind: "signaled", signal: 9, core: false });
  });
});
