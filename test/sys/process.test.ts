import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ExitStatus } from "../../src/core/types.ts";
import { errno, libc, osError, strerror } from "../../src/sys/libc.ts";
import { close } from "../../src/sys/pipe.ts";
import { getpid, kill, killGroup } from "../../src/sys/process.ts";
import { decodeStatus, stopReaper } from "../../src/sys/reaper.ts";
import { spawn } from "../../src/sys/spawn.ts";
import { openPipe } from "../helpers/pipe.ts";
import { AS_ROOT } from "../helpers/privilege.ts";
import { installReaper, readAll, spawnOptions, waitExit } from "./harness.ts";

const FIXTURE = join(import.meta.dir, "fixtures", "child.ts");

beforeAll(installReaper);
afterAll(stopReaper);

/** Runs the fixture in `mode` (through our own spawn: Bun.spawn would race our reaper). */
async function fixture(
  mode: string,
  prefix: string[] = [],
): Promise<{ report: Record<string, unknown> | null; status: ExitStatus }> {
  const p = openPipe();
  const r = spawn(
    spawnOptions([...prefix, process.execPath, FIXTURE, mode], {
      stdout: p.write,
      stderr: "inherit",
    }),
  );
  close(p.write);
  if (!r.ok) {
    close(p.read);
    throw new Error(r.error);
  }
  const [out, status] = await Promise.all([readAll(p.read), waitExit(r.pid, 60_000)]);
  return { report: out.trim() === "" ? null : JSON.parse(out), status };
}

const UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"];

describe("libc helpers", () => {
  test("errno and strerror", () => {
    expect(libc.kill(2 ** 31 - 1, 0)).toBe(-1);
    expect(errno()).toBe(3);
    expect(strerror(2)).toBe("No such file or directory");
    expect(osError(3)).toBe("No such process (os error 3)");
  });

  test("decodeStatus", () => {
    expect(decodeStatus(0)).toEqual({ kind: "exited", code: 0 });
    expect(decodeStatus(42 << 8)).toEqual({ kind: "exited", code: 42 });
    expect(decodeStatus(255 << 8)).toEqual({ kind: "exited", code: 255 });
    expect(decodeStatus(15)).toEqual({ kind: "signaled", signal: 15, core: false });
    expect(decodeStatus(0x80 | 11)).toEqual({ kind: "signaled", signal: 11, core: true });
  });
});

describe("pipe", () => {
  test("both ends close-on-exec, only the read end non-blocking", () => {
    const p = openPipe();
    const flags = (fd: number) => {
      const line = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8")
        .split("\n")
        .find((l) => l.startsWith("flags:"));
      return Number.parseInt(line?.split(/\s+/)[1] ?? "", 8);
    };
    try {
      expect(flags(p.read) & 0o2000000).toBe(0o2000000);
      expect(flags(p.write) & 0o2000000).toBe(0o2000000);
      expect(flags(p.read) & 0o4000).toBe(0o4000);
      expect(flags(p.write) & 0o4000).toBe(0);
    } finally {
      close(p.read);
      close(p.write);
    }
  });
});

describe("process", () => {
  test("getpid, kill errors, and killGroup refusing dangerous groups", () => {
    expect(getpid()).toBe(process.pid);
    expect(kill(2 ** 31 - 1, 0)).toBe(3);
    expect(kill(process.pid, 0)).toBe(0);
    expect(kill(process.pid, 65)).toBe(22);
    expect(kill(1.5, 0)).toBe(22);
    expect(killGroup(0, 0)).toBe(22);
    expect(killGroup(1, 0)).toBe(22);
    expect(killGroup(-5, 0)).toBe(22);
    expect(killGroup(libc.getpgrp(), 0)).toBe(22);
    expect(killGroup(2 ** 31 - 1, 0)).toBe(3);
  });

  test("killGroup kills a whole tree (sh and two sleeps), all reaped by the subreaper", async () => {
    const { report, status } = await fixture("killgroup");
    expect(status).toEqual({ kind: "exited", code: 0 });
    const r = report as { rc: number; tree: number[]; expected: number[]; statuses: unknown[] };
    expect(r.rc).toBe(0);
    expect(r.tree).toEqual(r.expected);
    const killed = { kind: "signaled", signal: 15, core: false };
    expect(r.statuses).toEqual([killed, killed, killed]);
    expect(report?.zombies).toEqual([]);
  }, 60_000);

  test("a child subreaper gets and reaps its orphaned grandchildren", async () => {
    const { report, status } = await fixture("subreaper");
    expect(status).toEqual({ kind: "exited", code: 0 });
    expect(report).toMatchObject({
      set: 0,
      sh: { kind: "exited", code: 0 },
      orphanStatus: { kind: "exited", code: 0 },
      zombies: [],
    });
  }, 60_000);

  AS_ROOT.test(
    "as PID 1, 200 orphaned sleeps are all reaped and no zombie is left",
    async () => {
      const { report, status } = await fixture("pid1", UNSHARE);
      expect(status).toEqual({ kind: "exited", code: 0 });
      expect(report).toEqual({
        pid: 1,
        reaped: 201,
        statuses: [JSON.stringify({ kind: "exited", code: 0 })],
        others: [],
        zombies: [],
      });
    },
    60_000,
  );

  AS_ROOT.test(
    "reboot(2) in a PID namespace ends its init with SIGINT (poweroff) or SIGHUP (reboot)",
    async () => {
      // unshare re-raises the signal that ended the namespace's init on itself.
      const off = await fixture("poweroff", UNSHARE);
      expect(off).toEqual({ report: null, status: { kind: "signaled", signal: 2, core: false } });
      const re = await fixture("reboot", UNSHARE);
      expect(re).toEqual({ report: null, status: { kind: "signaled", signal: 1, core: false } });
    },
    60_000,
  );
});
