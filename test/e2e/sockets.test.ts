// Whose socket is it: the compiled daemon meeting another user's socket (a live one, a dead one in
// a sticky directory where unlinking it would be EPERM, its own that it cannot remove), and the
// CLI finding upstream's /tmp/zinit.sock when its default is absent (in a private mount
// namespace, with /tmp and /run of its own). Needs root (setpriv, unshare, mount).

import { afterAll, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { AS_ROOT } from "../helpers/privilege.ts";
import { collect, type RunResult, run } from "../helpers/run.ts";
import { rawRequest, ZINIT } from "../helpers/zinit.ts";

const NOBODY = 65534;
const asNobody = [
  "setpriv",
  `--reuid=${NOBODY}`,
  `--regid=${NOBODY}`,
  "--clear-groups",
  "--inh-caps=-all",
];

let dir = "";
let etc = "";
let shared = "";

AS_ROOT.beforeAll(() => {
  dir = mkdtempSync("/tmp/zinit-sockets-");
  chmodSync(dir, 0o755);
  etc = join(dir, "etc");
  mkdirSync(etc, { mode: 0o755 });
  writeFileSync(join(etc, "idle.yaml"), "exec: sleep 1000\n");
  // Like /tmp: anyone may create, only the owner may remove.
  shared = join(dir, "shared");
  mkdirSync(shared);
  chmodSync(shared, 0o1777);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** `zinit init` as nobody on `socket`; it is expected to refuse, so it is given 20 s at most. */
function initAsNobody(socket: string): Promise<RunResult> {
  return collect(
    Bun.spawn(["timeout", "20", ...asNobody, ZINIT, "init", "-c", etc, "-s", socket], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    }),
  );
}

/** A unix socket file left behind by a listener that is gone. */
function deadSocket(path: string, mode: number): void {
  const made = Bun.spawnSync([
    "python3",
    "-c",
    "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.close()",
    path,
  ]);
  expect(made.exitCode).toBe(0);
  chmodSync(path, mode);
}

const ownerHint = "choose another socket with -s PATH, $ZINIT_SOCKET or $XDG_RUNTIME_DIR";

AS_ROOT.describe("another user's socket", () => {
  test("a live one: refused, naming whose it is; the other daemon is untouched", async () => {
    const path = join(shared, "live.sock");
    const listener = Bun.listen({ unix: path, socket: { data() {} } });
    try {
      chmodSync(path, 0o600);
      const out = await initAsNobody(path);
      expect(out.code).toBe(1);
      expect(out.stdout + out.stderr).toContain(
        `cannot listen on ${path}: ${path} belongs to user root (uid 0), whose zinit may be running there; ${ownerHint}`,
      );
      // Still the root listener's socket.
      const reached = await Bun.connect({ unix: path, socket: { data() {} } });
      reached.end();
    } finally {
      listener.stop(true);
    }
  });

  test("a dead one in a sticky directory (removing it would be EPERM): refused, left in place", async () => {
    const path = join(shared, "dead.sock");
    deadSocket(path, 0o777);
    // What zinit spares the user: nobody cannot remove root's file from a sticky directory.
    const rm = Bun.spawnSync([...asNobody, "rm", path], { stderr: "pipe" });
    expect(rm.exitCode).not.toBe(0);
    expect(rm.stderr.toString()).toContain("Operation not permitted");
    const out = await initAsNobody(path);
    expect(out.code).toBe(1);
    expect(out.stdout + out.stderr).toContain(
      `cannot listen on ${path}: ${path} belongs to user root (uid 0); ${ownerHint}`,
    );
    expect(existsSync(path)).toBe(true);
  });

  test("its own dead socket in a directory it cannot write: the OS error, named", async () => {
    const locked = join(dir, "locked");
    mkdirSync(locked, { mode: 0o755 });
    const path = join(locked, "own.sock");
    deadSocket(path, 0o600);
    chownSync(path, NOBODY, NOBODY);
    const out = await initAsNobody(path);
    expect(out.code).toBe(1);
    expect(out.stdout + out.stderr).toMatch(
      new RegExp(
        `cannot listen on ${path}: cannot remove stale socket ${path}: .*permission denied`,
        "i",
      ),
    );
    expect(existsSync(path)).toBe(true);
  });

  test("root meets a live daemon of another user: refused, never clobbered", async () => {
    const path = join(shared, "nobody.sock");
    const theirs = Bun.spawn([...asNobody, ZINIT, "init", "-c", etc, "-s", path], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      const deadline = Date.now() + 20_000;
      while (!existsSync(path) && Date.now() < deadline) await Bun.sleep(20);
      const out = await run([ZINIT, "init", "-c", etc, "-s", path]);
      expect(out.code).toBe(1);
      expect(out.stdout + out.stderr).toContain(
        `cannot listen on ${path}: another zinit is already listening on ${path}`,
      );
      // Theirs answers as before.
      const reply = JSON.parse(
        await rawRequest(path, '{"jsonrpc":"2.0","id":1,"method":"service_list"}\n'),
      );
      expect(reply.result).toEqual({ idle: "Running" });
      await rawRequest(path, '{"jsonrpc":"2.0","id":2,"method":"system_shutdown"}\n');
      expect(await theirs.exited).toBe(0);
    } finally {
      theirs.kill();
    }
  });
});

/**
 * A shell script as root in a mount namespace of its own, with fresh /tmp and /run. The binary
 * is `$ZINIT_BIN`, reached through a bind mount of its directory on /mnt: a checkout under /tmp
 * would be hidden by the fresh /tmp.
 */
function privateMounts(script: string): Promise<RunResult> {
  return run([
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-euc",
    `mount --bind ${dirname(ZINIT)} /mnt; ZINIT_BIN=/mnt/${basename(ZINIT)}; mount -t tmpfs tmpfs /tmp; mount -t tmpfs tmpfs /run; ${script}`,
  ]);
}

const waitSocket = (path: string) =>
  `i=0; while [ ! -S ${path} ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done`;

AS_ROOT.describe("/tmp/zinit.sock, upstream's default", () => {
  test("the CLI falls back to it when its own default is absent", async () => {
    const out = await privateMounts(`
      mkdir /tmp/etc; echo 'exec: sleep 1000' > /tmp/etc/idle.yaml
      $ZINIT_BIN init -c /tmp/etc -s /tmp/zinit.sock > /tmp/log 2>&1 &
      ${waitSocket("/tmp/zinit.sock")}
      test ! -e /var/run/zinit.sock
      env -u ZINIT_SOCKET -u XDG_RUNTIME_DIR $ZINIT_BIN list
      env -u ZINIT_SOCKET $ZINIT_BIN shutdown
      wait
    `);
    expect(out).toEqual({ code: 0, stdout: "---\nidle: Running\n", stderr: "" });
  });

  test("root's daemon on the default socket also answers there", async () => {
    const out = await privateMounts(`
      mkdir /tmp/etc; echo 'exec: sleep 1000' > /tmp/etc/idle.yaml
      env -u ZINIT_SOCKET $ZINIT_BIN init -c /tmp/etc > /tmp/log 2>&1 &
      ${waitSocket("/var/run/zinit.sock")}
      ${waitSocket("/tmp/zinit.sock")}
      stat -c '%a %U' /var/run/zinit.sock /tmp/zinit.sock
      $ZINIT_BIN -s /tmp/zinit.sock list
      env -u ZINIT_SOCKET $ZINIT_BIN shutdown
      wait
      test ! -e /tmp/zinit.sock && test ! -e /var/run/zinit.sock && echo both removed
    `);
    expect(out).toEqual({
      code: 0,
      stdout: "600 root\n600 root\n---\nidle: Running\nboth removed\n",
      stderr: "",
    });
  });

  test("another user's live daemon there is left alone: root's daemon says so and goes on", async () => {
    const out = await privateMounts(`
      mkdir -m 755 /tmp/etc; echo 'exec: sleep 1000' > /tmp/etc/idle.yaml
      ${asNobody.join(" ")} $ZINIT_BIN init -c /tmp/etc -s /tmp/zinit.sock > /tmp/theirs 2>&1 &
      ${waitSocket("/tmp/zinit.sock")}
      env -u ZINIT_SOCKET $ZINIT_BIN init -c /tmp/etc > /tmp/ours 2>&1 &
      ${waitSocket("/var/run/zinit.sock")}
      env -u ZINIT_SOCKET $ZINIT_BIN list
      stat -c '%U' /tmp/zinit.sock
      grep -o 'not also listening on /tmp/zinit.sock: .*' /tmp/ours
      $ZINIT_BIN -s /tmp/zinit.sock shutdown
      env -u ZINIT_SOCKET $ZINIT_BIN shutdown
      wait
    `);
    expect(out).toEqual({
      code: 0,
      stdout:
        "---\nidle: Running\nnobody\n" +
        "not also listening on /tmp/zinit.sock: another zinit is already listening on /tmp/zinit.sock\n",
      stderr: "",
    });
  });
});
