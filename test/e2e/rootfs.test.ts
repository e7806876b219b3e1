// The scratch image's file tree (build/rootfs.sh) booted for real: dist/zinit as PID 1 of a new
// PID namespace, chrooted into a tree that holds nothing but zinit, its ldd libraries, and the
// service's own binary. The host talks to it through the socket inside the tree.

import { afterAll, beforeAll, expect, test } from "bun:test";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { REPO } from "../build/release.ts";
import { AS_ROOT } from "../helpers/privilege.ts";
import { collect, runSync } from "../helpers/run.ts";
import { cli, namespaceProcs, ZINIT } from "../helpers/zinit.ts";

const ROOTFS_SH = join(REPO, "build/rootfs.sh");

/** Every file and symlink under dir, as absolute paths inside the tree. */
function tree(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...tree(p, base));
    else out.push(`/${relative(base, p)}`);
  }
  return out.sort();
}

/** The library paths `ldd` prints for a binary. */
function lddPaths(bin: string): string[] {
  const r = runSync(["ldd", bin]);
  expect(r.code).toBe(0);
  const paths: string[] = [];
  for (const line of r.stdout.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[1] === "=>" && f[2]?.startsWith("/")) paths.push(f[2]);
    else if (f[0]?.startsWith("/")) paths.push(f[0]);
  }
  return paths;
}

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let delay = 10;
  while (performance.now() < deadline) {
    const v = await probe();
    if (v !== undefined) return v;
    await Bun.sleep(delay);
    delay = Math.min(delay * 2, 200);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

AS_ROOT.describe("rootfs.sh glibc tree", () => {
  let dir = "";
  let dest = "";

  beforeAll(() => {
    expect(existsSync(ZINIT)).toBe(true);
    dir = mkdtempSync(join(tmpdir(), "zinit-rootfs-"));
    dest = join(dir, "root");
    const services = join(dir, "services");
    mkdirSync(services);
    writeFileSync(join(services, "sleeper.yaml"), "exec: /bin/sleep 1000\n");
    const r = runSync(["sh", ROOTFS_SH, "-b", ZINIT, "-c", services, dest, "glibc"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test("holds /sbin/zinit, the services, /var/run -> ../run, and exactly the ldd libraries", () => {
    const expected = [
      "/etc/zinit/sleeper.yaml",
      "/sbin/zinit",
      "/var/run",
      ...lddPaths(ZINIT),
    ].sort();
    expect(tree(dest)).toEqual(expected);
    expect(readFileSync(join(dest, "sbin/zinit")).equals(readFileSync(ZINIT))).toBe(true);
    expect(readlinkSync(join(dest, "var/run"))).toBe("../run");
    for (const d of ["proc", "dev", "run", "tmp"]) expect(existsSync(join(dest, d))).toBe(true);
  });

  test("boots as PID 1: list over the socket from outside, reaps a killed service, SIGTERM -> exit 0", async () => {
    // The service's binary needs nothing beyond libraries the tree already has.
    for (const lib of lddPaths("/bin/sleep")) expect(existsSync(join(dest, lib))).toBe(true);
    mkdirSync(join(dest, "bin"));
    copyFileSync("/bin/sleep", join(dest, "bin/sleep"));
    runSync(["chmod", "0755", join(dest, "bin/sleep")]);
    // A container runtime populates /dev; services get /dev/null as stdin.
    for (const [name, minor] of [
      ["null", 3],
      ["zero", 5],
      ["random", 8],
      ["urandom", 9],
    ] as const) {
      expect(
        runSync(["mknod", "-m", "666", join(dest, "dev", name), "c", "1", String(minor)]).code,
      ).toBe(0);
    }

    const proc = Bun.spawn(
      [
        "unshare",
        "--pid",
        "--fork",
        `--mount-proc=${join(dest, "proc")}`,
        "chroot",
        dest,
        "/sbin/zinit",
        "init",
        "--container",
      ],
      { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { PATH: "/sbin:/bin" } },
    );
    let output = "";
    const decoder = new TextDecoder();
    const collect = async (s: ReadableStream<Uint8Array>) => {
      for await (const c of s) output += decoder.decode(c, { stream: true });
    };
    void collect(proc.stdout);
    void collect(proc.stderr);
    // No -s: the default root socket /var/run/zinit.sock lands in the tree's /run.
    const socket = join(dest, "run/zinit.sock");
    let pid1 = 0;
    const running = () => {
      if (proc.exitCode !== null) throw new Error(`zinit exited early with ${proc.exitCode}`);
    };
    try {
      pid1 = await waitFor("zinit as PID 1 in the namespace", 20_000, () => {
        running();
        const kids = readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, "utf8").trim();
        return kids === "" ? undefined : Number(kids.split(/\s+/)[0]);
      });
      const first = await waitFor("sleeper Running", 30_000, async () => {
        running();
        const r = await cli(socket, "list");
        const sleep = namespaceProcs(pid1).find((p) => p.comm === "sleep");
        return r.code === 0 && r.stdout === "---\nsleeper: Running\n" && sleep ? sleep : undefined;
      });
      const status = await cli(socket, "status", "sleeper");
      expect(status.code).toBe(0);
      expect(status.stdout).toMatch(
        /^---\nname: sleeper\npid: \d+\nstate: Running\ntarget: Up\nafter: \{\}\n$/,
      );

      process.kill(first.pid, "SIGKILL");
      const second = await waitFor("sleeper restarted", 30_000, async () => {
        running();
        const r = await cli(socket, "list");
        const sleep = namespaceProcs(pid1).find((p) => p.comm === "sleep" && p.pid !== first.pid);
        return r.stdout === "---\nsleeper: Running\n" && sleep ? sleep : undefined;
      });
      expect(namespaceProcs(pid1).filter((p) => p.state === "Z")).toEqual([]);

      process.kill(pid1, "SIGTERM");
      expect(await proc.exited).toBe(0);
      expect(existsSync(`/proc/${second.pid}`)).toBe(false);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- zinit output ---\n${output}`);
    } finally {
      if (proc.exitCode === null) {
        if (pid1) process.kill(pid1, "SIGKILL");
        proc.kill("SIGKILL");
        await proc.exited;
      }
    }
  }, 90_000);
});

AS_ROOT.describe("booting the tree by hand, as the README says", () => {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const recipe = /```sh\n(ROOT=\/tmp\/zinit-root\n[^`]*?)\n```/.exec(readme)?.[1] ?? "";
  let dir = "";

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "zinit-recipe-"));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test("the README's recipe, pasted into a shell: boots, answers, Ctrl-C stops it with exit 0", async () => {
    expect(recipe.split("\n").at(-1)).toBe(
      'unshare --pid --fork --mount-proc="$ROOT/proc" chroot "$ROOT" /sbin/zinit init --container',
    );
    const root = join(dir, "root");
    // The recipe as written, in a tree of the test's own. Its last line runs as a terminal runs
    // a foreground job: in a process group of its own, which a Ctrl-C signals as a whole.
    const lines = recipe.replace("ROOT=/tmp/zinit-root", `ROOT=${root}`).split("\n");
    const prepared = runSync(["sh", "-euc", lines.slice(0, -1).join("\n")], { cwd: REPO });
    expect(prepared).toEqual({ code: 0, stdout: "", stderr: "" });
    const proc = Bun.spawn(["sh", "-c", `exec ${lines.at(-1)}`], {
      cwd: REPO,
      env: { ...process.env, ROOT: root },
      detached: true,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const out = collect(proc);
    try {
      const socket = join(root, "run/zinit.sock");
      await waitFor("sleeper Running in the tree", 30_000, async () => {
        if (proc.exitCode !== null)
          throw new Error(`the recipe ended: ${JSON.stringify(await out)}`);
        const r = await cli(socket, "list");
        return r.stdout === "---\nsleeper: Running\n" ? true : undefined;
      });
      process.kill(-proc.pid, "SIGINT");
      const r = await out;
      expect(r.code).toBe(0);
      expect(r.stderr).toContain("zinit: INFO stopped sleeper in ");
      expect(r.stderr).toEndWith("zinit: INFO all services stopped; exiting\n");
    } finally {
      if (proc.exitCode === null) {
        try {
          process.kill(-proc.pid, "SIGKILL");
        } catch {
          // the group is gone already
        }
        await proc.exited;
      }
    }
  }, 90_000);

  test("without /proc in the tree the runtime aborts before zinit runs, as the README says", () => {
    // A fresh tree booted with plain --mount-proc: the new /proc lands outside it.
    const root = join(dir, "bare");
    expect(runSync(["sh", ROOTFS_SH, "-b", ZINIT, root, "glibc"]).code).toBe(0);
    const r = Bun.spawnSync(
      ["unshare", "--pid", "--fork", "--mount-proc", "chroot", root, "/sbin/zinit", "init"],
      { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
    );
    const stderr = r.stderr.toString();
    // If this ever changes (the runtime lets JavaScript run first), zinit should say what is
    // missing in one line, and the README should say so.
    expect(stderr).toContain("Bun has crashed");
    expect(stderr).not.toContain("zinit:");
    // SIGILL, re-raised by unshare: a shell reports exit code 128 + 4 = 132.
    expect(r.signalCode).toBe("SIGILL");
  });
});
