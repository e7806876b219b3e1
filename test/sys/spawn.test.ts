import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { close } from "../../src/sys/pipe.ts";
import { listProcs, readProc } from "../../src/sys/proc.ts";
import { kill } from "../../src/sys/process.ts";
import { stopReaper } from "../../src/sys/reaper.ts";
import { spawn } from "../../src/sys/spawn.ts";
import { openPipe } from "../helpers/pipe.ts";
import { installReaper, PATH, readAll, runSh, spawnOptions, waitExit } from "./harness.ts";

let dir = "";

beforeAll(() => {
  installReaper();
  dir = mkdtempSync(join(tmpdir(), "zinit-spawn-"));
});

afterAll(() => {
  stopReaper();
  rmSync(dir, { recursive: true, force: true });
});

function statusField(pid: number, field: string): string {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${field}:`));
  return line?.split(/\s+/)[1] ?? "";
}

function nofile(pid: number | "self"): [string, string] {
  const line = readFileSync(`/proc/${pid}/limits`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("Max open files"));
  const [soft = "", hard = ""] = line?.slice("Max open files".length).trim().split(/\s+/) ?? [];
  return [soft, hard];
}

/**
 * The soft limit spawn gives children. Bun raises its own soft limit at startup to the hard one,
 * capped at 2^20; while it looks raised, children get the kernel default back. On a machine where
 * Bun left it alone (a CI runner's limits can be anything), children inherit it.
 */
function childSoftNofile(): string {
  const [soft, hard] = nofile("self");
  if (soft !== hard && soft !== String(2 ** 20)) return soft;
  return String(Math.min(hard === "unlimited" ? Number.POSITIVE_INFINITY : Number(hard), 1024));
}

/** Children of ours that are zombies right now. */
/**
 * The child's fds with what each points at (pipes as "pipe"), once its dynamic loader is done: for
 * a moment after exec, ld.so holds the libraries it maps open as fd 3 and up. An fd inherited from
 * us stays, so it still shows after the wait (with its target, to say which one leaked).
 */
async function settledFds(pid: number): Promise<string[]> {
  const read = () =>
    readdirSync(`/proc/${pid}/fd`)
      .sort((a, b) => Number(a) - Number(b))
      .map((fd) => {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        return `${fd} ${target.startsWith("pipe:") ? "pipe" : target}`;
      });
  const deadline = Date.now() + 2000;
  let fds = read();
  while (fds.some((f) => /\.so(\.|$)/.test(f)) && Date.now() < deadline) {
    await Bun.sleep(5);
    fds = read();
  }
  return fds;
}

function ourZombies(): number[] {
  return listProcs()
    .filter((p) => p.ppid === process.pid && p.state === "Z")
    .map((p) => p.pid);
}

describe("spawn", () => {
  test("runs sh with the exact env, the cwd, and stdout+stderr on a pipe", async () => {
    const { pid, out, status } = await runSh(
      'printf "%s|%s|%s|" "$FOO" "$(pwd)" "$$"; echo err >&2',
      {
        env: { FOO: "a b=c", PATH },
        cwd: dir,
      },
    );
    expect(out).toBe(`a b=c|${dir}|${pid}|err\n`);
    expect(status).toEqual({ kind: "exited", code: 0 });
  });

  test("envp is exactly the given map", async () => {
    const p = openPipe();
    const r = spawn(spawnOptions(["env"], { env: { ZA: "1", PATH, ZB: "" }, stdout: p.write }));
    close(p.write);
    if (!r.ok) throw new Error(r.error);
    const [out, status] = await Promise.all([readAll(p.read), waitExit(r.pid)]);
    expect(out).toBe(`ZA=1\nPATH=${PATH}\nZB=\n`);
    expect(status).toEqual({ kind: "exited", code: 0 });
  });

  test("stdin is /dev/null", async () => {
    const { out } = await runSh("cat; readlink /proc/self/fd/0");
    expect(out).toBe("/dev/null\n");
  });

  test("exit codes and signals are decoded", async () => {
    expect((await runSh("exit 42")).status).toEqual({ kind: "exited", code: 42 });
    expect((await runSh("kill -TERM $$")).status).toEqual({
      kind: "signaled",
      signal: 15,
      core: false,
    });
    expect((await runSh("kill -KILL $$")).status).toEqual({
      kind: "signaled",
      signal: 9,
      core: false,
    });
  });

  test("a missing binary is ok:false with ENOENT naming it, and leaves no child", () => {
    const before = listProcs().filter((p) => p.ppid === process.pid).length;
    expect(spawn(spawnOptions(["/nonexistent/prog"]))).toEqual({
      ok: false,
      errno: 2,
      error: "'/nonexistent/prog': No such file or directory (os error 2)",
    });
    // A relative path is named as resolved in the child's directory.
    expect(spawn(spawnOptions(["./nope"], { cwd: dir }))).toEqual({
      ok: false,
      errno: 2,
      error: `'${join(dir, "nope")}': No such file or directory (os error 2)`,
    });
    // A bare name: the child's PATH (not ours) is what was searched.
    const env = { PATH: `/nonexistent/a:${dir}` };
    expect(spawn(spawnOptions(["no-such-binary"], { env }))).toEqual({
      ok: false,
      errno: 2,
      error: `'no-such-binary' not found in PATH (/nonexistent/a:${dir})`,
    });
    expect(listProcs().filter((p) => p.ppid === process.pid).length).toBe(before);
    expect(ourZombies()).toEqual([]);
  });

  test("a directory or a non-executable file is ok:false with EACCES naming it", () => {
    const plain = join(dir, "plain");
    writeFileSync(plain, "#!/bin/sh\n");
    chmodSync(plain, 0o644);
    for (const argv0 of [dir, plain]) {
      expect(spawn(spawnOptions([argv0]))).toEqual({
        ok: false,
        errno: 13,
        error: `'${argv0}': Permission denied (os error 13)`,
      });
    }
    // Found in PATH but not executable: execvp's EACCES, with the file it found.
    expect(spawn(spawnOptions(["plain"], { env: { PATH: `/nonexistent:${dir}` } }))).toEqual({
      ok: false,
      errno: 13,
      error: `'${plain}' (found in PATH): Permission denied (os error 13)`,
    });
  });

  test("an empty argv is refused", () => {
    const r = spawn(spawnOptions([]));
    expect(r.ok).toBe(false);
  });

  test("a bad cwd is ok:false naming the directory", () => {
    expect(spawn(spawnOptions(["true"], { cwd: "/nonexistent/dir" }))).toEqual({
      ok: false,
      errno: 2,
      error: "working directory '/nonexistent/dir': No such file or directory (os error 2)",
    });
    const file = join(dir, "plain-cwd");
    writeFileSync(file, "");
    expect(spawn(spawnOptions(["true"], { cwd: file }))).toEqual({
      ok: false,
      errno: 20,
      error: `working directory '${file}': Not a directory (os error 20)`,
    });
  });

  test("NUL bytes and bad env names are refused, not truncated", () => {
    expect(spawn(spawnOptions(["echo", "a\0b"])).ok).toBe(false);
    expect(spawn(spawnOptions(["true"], { env: { "A=B": "x" } })).ok).toBe(false);
  });

  test("argv[0] is looked up in the CHILD's PATH, and ./x resolves in the child's cwd", async () => {
    const bin = join(dir, "bin");
    rmSync(bin, { recursive: true, force: true });
    mkdirSync(bin);
    writeFileSync(join(bin, "zinit-tool"), '#!/bin/sh\necho "tool:$0:$1"\n');
    chmodSync(join(bin, "zinit-tool"), 0o755);
    expect(process.env.PATH?.split(":")).not.toContain(bin);

    const p = openPipe();
    const r = spawn(
      spawnOptions(["zinit-tool", "x"], { env: { PATH: `/nonexistent:${bin}` }, stdout: p.write }),
    );
    close(p.write);
    if (!r.ok) throw new Error(r.error);
    expect(await readAll(p.read)).toBe(`tool:${bin}/zinit-tool:x\n`);
    expect(await waitExit(r.pid)).toEqual({ kind: "exited", code: 0 });

    // Not on the default PATH, so the parent's PATH must not be used.
    expect(spawn(spawnOptions(["zinit-tool"])).ok).toBe(false);

    const q = openPipe();
    const rel = spawn(spawnOptions(["./zinit-tool", "y"], { cwd: bin, stdout: q.write }));
    close(q.write);
    if (!rel.ok) throw new Error(rel.error);
    // The kernel hands a script's interpreter the path that was exec'd: resolved in the cwd.
    expect(await readAll(q.read)).toBe(`tool:${bin}/zinit-tool:y\n`);
    expect(await waitExit(rel.pid)).toEqual({ kind: "exited", code: 0 });
  });

  test("the child is clean: session, signals, RLIMIT_NOFILE, fds", async () => {
    const out = openPipe();
    const unrelated = openPipe(); // open in the parent, must not reach the child
    const r = spawn(spawnOptions(["sleep", "30"], { stdout: out.write }));
    close(out.write);
    if (!r.ok) throw new Error(r.error);
    try {
      const info = readProc(r.pid);
      expect(info?.pgid).toBe(r.pid);
      expect(info?.sid).toBe(r.pid);
      expect(info?.ppid).toBe(process.pid);

      expect(statusField(r.pid, "SigBlk")).toBe("0000000000000000");
      expect(statusField(r.pid, "SigIgn")).toBe("0000000000000000");

      const [soft, hard] = nofile("self");
      expect(nofile(r.pid)).toEqual([childSoftNofile(), hard]);
      expect(nofile("self")).toEqual([soft, hard]);

      expect(await settledFds(r.pid)).toEqual(["0 /dev/null", "1 pipe", "2 /dev/null"]);
      expect(readlinkSync(`/proc/${r.pid}/fd/0`)).toBe("/dev/null");
      expect(readlinkSync(`/proc/${r.pid}/fd/2`)).toBe("/dev/null");
      expect(readlinkSync(`/proc/${r.pid}/fd/1`)).toBe(readlinkSync(`/proc/self/fd/${out.read}`));
    } finally {
      expect(kill(r.pid, 9)).toBe(0);
      close(out.read);
      close(unrelated.read);
      close(unrelated.write);
    }
    expect(await waitExit(r.pid)).toEqual({ kind: "signaled", signal: 9, core: false });
  });

  test("spawning works while we hold more fds than the child's soft limit", async () => {
    const pipes = Array.from({ length: 700 }, () => openPipe());
    try {
      const { out, status } = await runSh("cd /proc/self/fd && echo *; ulimit -n");
      // The shell's stdio and the directory its glob is reading (3): nothing of ours.
      expect(out.split("\n").filter(Boolean)).toEqual(["0 1 2 3", childSoftNofile()]);
      expect(status).toEqual({ kind: "exited", code: 0 });
    } finally {
      for (const p of pipes) {
        close(p.read);
        close(p.write);
      }
    }
  });

  test("inherit keeps our stdout, null sends output to /dev/null", async () => {
    const r = spawn(spawnOptions(["sleep", "30"], { stdout: "inherit", stderr: "null" }));
    if (!r.ok) throw new Error(r.error);
    expect(readlinkSync(`/proc/${r.pid}/fd/1`)).toBe(readlinkSync("/proc/self/fd/1"));
    expect(readlinkSync(`/proc/${r.pid}/fd/2`)).toBe("/dev/null");
    expect(kill(r.pid, 9)).toBe(0);
    expect(await waitExit(r.pid)).toEqual({ kind: "signaled", signal: 9, core: false });
  });
});
