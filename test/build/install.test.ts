// install.sh against a fake release served on 127.0.0.1: the happy path, every refusal, and
// that a refusal leaves an installed zinit byte-for-byte untouched.

import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, ReleaseServer, runInstaller, Sandbox, sha256, sums } from "./release.ts";

/**
 * Stands in for the real binary: answers --version and, for `--run`, plays a daemon whose
 * "socket" is a file holding its pid (`list` succeeds while that pid lives).
 */
const FAKE = `#!/bin/sh
if [ "$1" = --version ]; then echo "zinit 9.9.9 (fake)"; exit 0; fi
[ "$1" = -s ] || exit 2
sock="$2"; shift 2
case "$1" in
  list) [ -f "$sock" ] && kill -0 "$(cat "$sock")" 2>/dev/null ;;
  init) echo "$*" > "$sock.args"; echo $$ > "$sock"; echo "fake daemon up"; exec sleep 1000 ;;
  *) exit 2 ;;
esac
`;
const OLD = "#!/bin/sh\necho 'zinit 0.0.1 (old)'\n";

let server: ReleaseServer | null = null;
let box: Sandbox | null = null;
const daemons: number[] = [];

afterEach(() => {
  server?.stop();
  server = null;
  for (const pid of daemons.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // it already exited
    }
  }
  box?.cleanup();
  box = null;
});

function setup(assets: ConstructorParameters<typeof ReleaseServer>[0]): {
  srv: ReleaseServer;
  sb: Sandbox;
} {
  server = new ReleaseServer(assets);
  box = new Sandbox();
  return { srv: server, sb: box };
}

function release(name: string, data: string | Uint8Array = FAKE) {
  return { [name]: data, SHA256SUMS: sums({ [name]: data }) };
}

function env(
  srv: ReleaseServer,
  sb: Sandbox,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    ZINIT_RELEASE_URL: srv.url,
    PREFIX: sb.prefix,
    HOME: sb.dir,
    ZINIT_ARCH: "x86_64",
    ...extra,
  };
}

/** Puts an "installed" zinit in place, as a previous install would have. */
function preinstall(sb: Sandbox): void {
  mkdirSync(sb.bin, { recursive: true });
  writeFileSync(sb.target, OLD, { mode: 0o755 });
}

/**
 * Serves `assets` and runs install.sh over an installed zinit, which must fail with exit code 1
 * and leave the installed one as it was. Resolves to the installer's stderr and the server's URL.
 */
async function refused(assets: ConstructorParameters<typeof ReleaseServer>[0]) {
  const { srv, sb } = setup(assets);
  preinstall(sb);
  const r = await runInstaller("sh", env(srv, sb));
  expect(r.code).toBe(1);
  expect(readFileSync(sb.target, "utf8")).toBe(OLD);
  expect(sb.binEntries()).toEqual(["zinit"]);
  return { stderr: r.stderr, url: srv.url };
}

/**
 * Runs install.sh with `extra` environment and `args`, which must fail with exit code 1 and
 * exactly `stderr` before downloading anything. Resolves to the sandbox.
 */
async function failsBeforeDownload(
  extra: Record<string, string>,
  args: string[],
  stderr: string,
): Promise<Sandbox> {
  const { srv, sb } = setup(release("zinit-linux-x86_64"));
  const r = await runInstaller("sh", env(srv, sb, extra), args);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe(stderr);
  expect(srv.requests).toEqual([]);
  return sb;
}

/**
 * True when this machine has musl's x86_64 loader and neither library the musl build needs in
 * the directories that loader searches (its path file, else musl's default path).
 */
function muslLoaderWithoutLibstdcxx(): boolean {
  if (!existsSync("/lib/ld-musl-x86_64.so.1")) return false;
  const pathFile = "/etc/ld-musl-x86_64.path";
  const dirs = existsSync(pathFile)
    ? readFileSync(pathFile, "utf8").split(/[:\n]/).filter(Boolean)
    : ["/lib", "/usr/local/lib", "/usr/lib"];
  return !dirs.some(
    (d) => existsSync(join(d, "libstdc++.so.6")) || existsSync(join(d, "libgcc_s.so.1")),
  );
}

describe("install.sh", () => {
  test("piped into sh: downloads, verifies and installs into $PREFIX/bin", async () => {
    const { srv, sb } = setup(release("zinit-linux-x86_64"));
    const r = await runInstaller("sh", env(srv, sb));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readFileSync(sb.target, "utf8")).toBe(FAKE);
    expect(statSync(sb.target).mode & 0o777).toBe(0o755);
    expect(sb.binEntries()).toEqual(["zinit"]);
    expect(r.stdout).toContain(`installed zinit 9.9.9 (fake) to ${sb.target}\n`);
    expect(r.stdout).toContain(`note: ${sb.bin} is not in your PATH\n`);
    expect(srv.requests.sort()).toEqual(["SHA256SUMS", "zinit-linux-x86_64"]);
  });

  test("piped into bash: arm64 + musl pick zinit-linux-aarch64-musl and replace an old zinit", async () => {
    const { srv, sb } = setup(release("zinit-linux-aarch64-musl"));
    preinstall(sb);
    const r = await runInstaller("bash", env(srv, sb, { ZINIT_ARCH: "arm64", ZINIT_LIBC: "musl" }));
    expect(r.code).toBe(0);
    expect(readFileSync(sb.target, "utf8")).toBe(FAKE);
    expect(sb.binEntries()).toEqual(["zinit"]);
    expect(srv.requests).toContain("zinit-linux-aarch64-musl");
  });

  test("amd64 is x86_64; a binary-mode SHA256SUMS entry (*name) is accepted", async () => {
    const { srv, sb } = setup({
      "zinit-linux-x86_64": FAKE,
      SHA256SUMS: `${sha256(FAKE)} *zinit-linux-x86_64\n`,
    });
    const r = await runInstaller("sh", env(srv, sb, { ZINIT_ARCH: "amd64" }));
    expect(r.code).toBe(0);
    expect(readFileSync(sb.target, "utf8")).toBe(FAKE);
  });

  test("checksum mismatch: refuses, and the installed zinit stays as it was", async () => {
    const { stderr } = await refused({
      "zinit-linux-x86_64": FAKE,
      SHA256SUMS: sums({ "zinit-linux-x86_64": "other" }),
    });
    expect(stderr).toBe(
      `zinit-install: error: checksum mismatch for zinit-linux-x86_64: expected ${sha256("other")}, got ${sha256(FAKE)} (truncated or corrupted download); nothing was installed\n`,
    );
  });

  test("SHA256SUMS without an entry for the artifact: refuses", async () => {
    const { stderr, url } = await refused({
      "zinit-linux-x86_64": FAKE,
      SHA256SUMS: sums({ "zinit-linux-aarch64": FAKE }),
    });
    expect(stderr).toBe(
      `zinit-install: error: SHA256SUMS from ${url} has no entry for zinit-linux-x86_64\n`,
    );
  });

  test("unknown architecture: clear error before any download", async () => {
    const sb = await failsBeforeDownload(
      { ZINIT_ARCH: "riscv64" },
      [],
      "zinit-install: error: unsupported CPU architecture 'riscv64' (zinit is built for x86_64 and aarch64)\n",
    );
    expect(existsSync(sb.bin)).toBe(false);
  });

  test("not Linux: clear error before any download", async () => {
    await failsBeforeDownload(
      { ZINIT_OS: "Darwin" },
      [],
      "zinit-install: error: zinit runs on Linux only; this system reports 'Darwin'\n",
    );
  });

  test("404 for the artifact: refuses, installed zinit untouched", async () => {
    const { stderr, url } = await refused({ SHA256SUMS: sums({ "zinit-linux-x86_64": FAKE }) });
    expect(stderr).toContain(
      `zinit-install: error: could not download ${url}/zinit-linux-x86_64\n`,
    );
  });

  test("404 for SHA256SUMS: refuses", async () => {
    const { stderr, url } = await refused({ "zinit-linux-x86_64": FAKE });
    expect(stderr).toContain(`zinit-install: error: could not download ${url}/SHA256SUMS\n`);
  });

  test("download cut off mid-transfer: refuses, installed zinit untouched", async () => {
    const big = new Uint8Array(1 << 20).fill(7);
    const { stderr, url } = await refused({
      "zinit-linux-x86_64": { cutAfter: big },
      SHA256SUMS: sums({ "zinit-linux-x86_64": big }),
    });
    expect(stderr).toContain(
      `zinit-install: error: could not download ${url}/zinit-linux-x86_64\n`,
    );
  });

  test("truncated file served whole: the checksum catches it", async () => {
    const full = new TextEncoder().encode(FAKE);
    const short = full.subarray(0, 20);
    const { stderr } = await refused({
      "zinit-linux-x86_64": short,
      SHA256SUMS: sums({ "zinit-linux-x86_64": full }),
    });
    expect(stderr).toContain("zinit-install: error: checksum mismatch for zinit-linux-x86_64");
  });

  test("a verified download that does not run is not installed", async () => {
    const broken = "#!/bin/sh\necho 'exec format error' >&2\nexit 126\n";
    const { stderr } = await refused(release("zinit-linux-x86_64", broken));
    expect(stderr).toBe(
      "zinit-install: error: the downloaded zinit-linux-x86_64 does not run on this machine: exec format error; nothing was installed\n",
    );
  });

  test("a musl binary that cannot load libstdc++: one line saying what to install", async () => {
    // What musl's loader prints for a Bun musl build on Alpine without libstdc++ (cut short).
    const lines = [
      "Error loading shared library libstdc++.so.6: No such file or directory (needed by $0)",
      ...Array.from({ length: 38 }, (_, i) => `Error relocating $0: _ZSt${i}x: symbol not found`),
    ];
    const broken = `#!/bin/sh\n${lines.map((l) => `echo "${l}" >&2`).join("\n")}\nexit 127\n`;
    // aarch64: this machine has no aarch64 musl loader, so the check before the download passes.
    const { srv, sb } = setup(release("zinit-linux-aarch64-musl", broken));
    preinstall(sb);
    const r = await runInstaller("sh", env(srv, sb, { ZINIT_ARCH: "aarch64", ZINIT_LIBC: "musl" }));
    expect(r.code).toBe(1);
    const staged = /needed by ([^)]+)\)/.exec(r.stderr)?.[1] ?? "";
    expect(r.stderr).toBe(
      `zinit-install: error: the downloaded zinit-linux-aarch64-musl cannot start: Error loading shared library libstdc++.so.6: No such file or directory (needed by ${staged}); on Alpine: apk add libstdc++; nothing was installed\n`,
    );
    expect(readFileSync(sb.target, "utf8")).toBe(OLD);
    expect(sb.binEntries()).toEqual(["zinit"]);
  });

  // Debian's musl package (which .ci/run installs) has the loader and no musl libstdc++: this
  // machine is then an Alpine without `apk add libstdc++`, as far as the installer can tell.
  test.if(muslLoaderWithoutLibstdcxx())(
    "musl without libstdc++ where the loader looks: refused before the download",
    async () => {
      await failsBeforeDownload(
        { ZINIT_LIBC: "musl" },
        [],
        "zinit-install: error: zinit-linux-x86_64-musl needs libstdc++ and libgcc (not found: libstdc++.so.6 libgcc_s.so.1); on Alpine: apk add libstdc++, then run this again; nothing was downloaded\n",
      );
    },
  );

  test("says how big the download is", async () => {
    const { srv, sb } = setup(release("zinit-linux-x86_64"));
    const r = await runInstaller("sh", env(srv, sb));
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith(
      `zinit-install: downloading zinit-linux-x86_64 (about 110 MB) from ${srv.url}\n`,
    );
  });

  test("unknown option: usage error, nothing downloaded", async () => {
    await failsBeforeDownload(
      {},
      ["--bogus"],
      "zinit-install: error: unknown argument '--bogus' (try --help)\n",
    );
  });

  test("--run starts `zinit init` once, prints the socket, and leaves a running one alone", async () => {
    const { srv, sb } = setup(release("zinit-linux-x86_64"));
    const socket = join(sb.dir, "run/zinit.sock");
    const config = join(sb.dir, "services");
    const log = join(sb.dir, "log/zinit.log");
    const e = env(srv, sb, { ZINIT_SOCKET: socket, ZINIT_CONFIG_DIR: config, ZINIT_LOG: log });

    const first = await runInstaller("sh", e, ["--run"]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    const pid = Number(readFileSync(socket, "utf8"));
    daemons.push(pid);
    expect(first.stdout).toContain(
      `started zinit init (pid ${pid}, services in ${config}), logging to ${log}\n`,
    );
    expect(first.stdout.endsWith(`\n${socket}\n`)).toBe(true);
    expect(readFileSync(`${socket}.args`, "utf8")).toBe(`init -c ${config}\n`);
    expect(readFileSync(log, "utf8")).toBe("fake daemon up\n");
    expect(existsSync(config)).toBe(true);

    const second = await runInstaller("sh", e, ["--run"]);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(
      `a zinit is already running on ${socket}; not starting another\n`,
    );
    expect(second.stdout.endsWith(`\n${socket}\n`)).toBe(true);
    // Same daemon, still alive: the installer neither restarted nor killed it.
    expect(Number(readFileSync(socket, "utf8"))).toBe(pid);
    expect(() => process.kill(pid, 0)).not.toThrow();
  });

  test("install_run.sh from a checkout runs install.sh --run", async () => {
    const { srv, sb } = setup(release("zinit-linux-x86_64"));
    const socket = join(sb.dir, "zinit.sock");
    const proc = Bun.spawn(["sh", join(import.meta.dir, "../../install_run.sh")], {
      stdout: "pipe",
      stderr: "pipe",
      env: {
        PATH: "/usr/bin:/bin",
        ZINIT_LIBC: "glibc",
        ...env(srv, sb, {
          ZINIT_SOCKET: socket,
          ZINIT_CONFIG_DIR: join(sb.dir, "etc"),
          ZINIT_LOG: join(sb.dir, "log"),
        }),
      },
    });
    const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(code).toBe(0);
    daemons.push(Number(readFileSync(socket, "utf8")));
    expect(stdout.endsWith(`\n${socket}\n`)).toBe(true);
    expect(readFileSync(sb.target, "utf8")).toBe(FAKE);
  });

  test("the real dist/zinit: installs, and --run brings up a daemon that answers and stops on SIGTERM", async () => {
    const real = new Uint8Array(readFileSync(join(REPO, "dist/zinit")));
    const { srv, sb } = setup(release("zinit-linux-x86_64", real));
    const socket = join(sb.dir, "zinit.sock");
    const e = env(srv, sb, {
      ZINIT_SOCKET: socket,
      ZINIT_CONFIG_DIR: join(sb.dir, "etc"),
      ZINIT_LOG: join(sb.dir, "zinit.log"),
    });
    const r = await runInstaller("sh", e, ["--run"]);
    const log = existsSync(join(sb.dir, "zinit.log"))
      ? readFileSync(join(sb.dir, "zinit.log"), "utf8")
      : "";
    expect({ code: r.code, stderr: r.stderr, log: r.code === 0 ? "" : log }).toEqual({
      code: 0,
      stderr: "",
      log: "",
    });
    const version = Bun.spawnSync([join(REPO, "dist/zinit"), "--version"]).stdout.toString();
    expect(r.stdout).toContain(`installed ${version.trim()} to ${sb.target}\n`);
    expect(readFileSync(sb.target).equals(Buffer.from(real))).toBe(true);
    const pid = Number(/started zinit init \(pid (\d+),/.exec(r.stdout)?.[1]);
    expect(pid).toBeGreaterThan(1);
    daemons.push(pid);
    expect(r.stdout.endsWith(`\n${socket}\n`)).toBe(true);

    const list = Bun.spawnSync([sb.target, "-s", socket, "list"]);
    expect(list.exitCode).toBe(0);
    expect(list.stdout.toString()).toBe("---\n{}\n");

    process.kill(pid, "SIGTERM");
    const deadline = performance.now() + 30_000;
    const gone = () => {
      try {
        return readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
      } catch {
        return true;
      }
    };
    while (!gone() && performance.now() < deadline) await Bun.sleep(20);
    expect(gone()).toBe(true);
  }, 60_000);
});
