// Compiles zinit into one self-contained executable.
//
//   bun build/build.ts            dist/zinit for this machine
//   bun build/build.ts --release  dist/zinit-linux-{x86_64,aarch64}[-musl], the service file
//                                 JSON Schema (dist/service.schema.json), the installers
//                                 (dist/install.sh, dist/install_run.sh) and dist/SHA256SUMS
//
// Every artifact is smoke-run where this machine can run it, because a broken `--bytecode` build
// still exits 0 (docs/runtime.md). Release runtimes come from the exact @oven/bun-* tarballs
// pinned by package-lock.json, so a release build never lets bun download anything itself. They are kept
// in ${XDG_CACHE_HOME:-~/.cache}/zinit-build/, outside node_modules, so that `npm ci` does not
// throw them away: only the first release build fetches them.
//
// A release build smoke-runs the x86_64 musl artifacts through build/musl-smoke.sh, which needs
// (Debian) musl musl-tools libstdc++-12-pic binutils.

import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import { homedir, arch as hostArch, tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const DIST = join(ROOT, "dist");
const ENTRY = join(ROOT, "src/entry.ts");
const BUN = join(ROOT, "node_modules/.bin/bun");
/** Where fetched runtimes are kept, across `npm ci`s and worktrees. */
function runtimeCache(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  // The XDG rule: a relative value is invalid and ignored.
  const base = xdg?.startsWith("/") ? xdg : join(homedir(), ".cache");
  return join(base, "zinit-build");
}
/**
 * Shipped next to the binaries: the JSON Schema for editors and CI (`# yaml-language-server:
 * $schema=…`), and the installers that `curl …/releases/latest/download/install.sh | sh` fetches.
 */
const PUBLISHED = [
  { from: join(ROOT, "schema/service.schema.json"), missing: "npm run schema" },
  { from: join(ROOT, "install.sh"), missing: "it is part of the repository" },
  { from: join(ROOT, "install_run.sh"), missing: "it is part of the repository" },
];

/** Ends the embedded application; a bare runtime holds it only once, as a constant in its own code. */
const BUN_TRAILER = "\n---- Bun! ----\n";

type Arch = "x86_64" | "aarch64";
type Libc = "glibc" | "musl";

interface Target {
  arch: Arch;
  libc: Libc;
  /** Artifact name under dist/. */
  file: string;
  /** `bun build --target` value. */
  bunTarget: string;
  /** npm package that carries this target's runtime. */
  runtimePkg: string;
  /** PT_INTERP the kernel must find in the ELF. */
  interpreter: string;
  /** ELF e_machine. */
  machine: number;
}

const TARGETS: Target[] = [
  {
    arch: "x86_64",
    libc: "glibc",
    file: "zinit-linux-x86_64",
    bunTarget: "bun-linux-x64",
    runtimePkg: "@oven/bun-linux-x64",
    interpreter: "/lib64/ld-linux-x86-64.so.2",
    machine: 62,
  },
  {
    arch: "x86_64",
    libc: "musl",
    file: "zinit-linux-x86_64-musl",
    bunTarget: "bun-linux-x64-musl",
    runtimePkg: "@oven/bun-linux-x64-musl",
    interpreter: "/lib/ld-musl-x86_64.so.1",
    machine: 62,
  },
  {
    arch: "aarch64",
    libc: "glibc",
    file: "zinit-linux-aarch64",
    bunTarget: "bun-linux-arm64",
    runtimePkg: "@oven/bun-linux-aarch64",
    interpreter: "/lib/ld-linux-aarch64.so.1",
    machine: 183,
  },
  {
    arch: "aarch64",
    libc: "musl",
    file: "zinit-linux-aarch64-musl",
    bunTarget: "bun-linux-arm64-musl",
    runtimePkg: "@oven/bun-linux-aarch64-musl",
    interpreter: "/lib/ld-musl-aarch64.so.1",
    machine: 183,
  },
];

class BuildError extends Error {}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; a missing executable is a failed run, not an exception. */
function run(cmd: string[], env: Record<string, string | undefined> = process.env): RunResult {
  let proc: Bun.SyncSubprocess<"pipe", "pipe">;
  try {
    proc = Bun.spawnSync(cmd, { cwd: ROOT, env, stdout: "pipe", stderr: "pipe" });
  } catch (err) {
    return { code: -1, stdout: "", stderr: `cannot run ${cmd[0]}: ${(err as Error).message}\n` };
  }
  return {
    code: proc.exitCode ?? -1,
    stdout: proc.stdout.toString(),
    stderr: proc.stderr.toString(),
  };
}

function mustRun(what: string, cmd: string[], env?: Record<string, string | undefined>): void {
  const r = run(cmd, env);
  if (r.code !== 0) {
    throw new BuildError(
      `${what} failed (exit ${r.code}): ${cmd.join(" ")}\n${r.stderr}${r.stdout}`,
    );
  }
}

function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new BuildError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

function packageVersions(): { version: string; bunVersion: string } {
  const pkg = readJson(join(ROOT, "package.json"));
  const version = pkg.version;
  const bunVersion = (pkg.devDependencies as Record<string, string> | undefined)?.bun;
  if (typeof version !== "string") throw new BuildError("package.json: field 'version' missing");
  if (typeof bunVersion !== "string" || !/^\d+\.\d+\.\d+$/.test(bunVersion)) {
    throw new BuildError("package.json: devDependencies.bun must be an exact version");
  }
  return { version, bunVersion };
}

/** `<short rev>` or `<short rev>+dirty`; ZINIT_REVISION wins (e.g. a Docker build without .git). */
function revision(): string {
  const fromEnv = process.env.ZINIT_REVISION;
  if (fromEnv) return fromEnv;
  const rev = run(["git", "rev-parse", "--short", "HEAD"]);
  if (rev.code !== 0) return "unknown";
  const dirty = run(["git", "status", "--porcelain", "--untracked-files=no"]);
  return `${rev.stdout.trim()}${dirty.stdout.trim() === "" ? "" : "+dirty"}`;
}

function compile(
  outfile: string,
  rev: string,
  target?: { bunTarget: string; runtime: string },
): void {
  // Build beside the artifact and rename, so a failed build never leaves a half-written one.
  const tmp = `${outfile}.tmp-${process.pid}`;
  // --splitting: the entry is its own small chunk, so its first statement (startup.ts, which
  // catches stop signals) runs before the rest of the bundle is loaded.
  const cmd = [BUN, "build", "--compile", "--bytecode", "--format=esm", "--splitting"];
  if (target) {
    cmd.push(`--target=${target.bunTarget}`, `--compile-executable-path=${target.runtime}`);
  }
  cmd.push(`--define=ZINIT_REVISION=${JSON.stringify(rev)}`, `--outfile=${tmp}`, ENTRY);
  // NODE_ENV is baked into the bundle; `bun test` would otherwise leak "test" into it.
  const env = { ...process.env, NODE_ENV: "production" };
  try {
    const r = run(cmd, env);
    // bun can print "Failed to generate bytecode" and still exit 0, so look at stderr as well.
    if (r.code !== 0 || /error:/i.test(r.stderr) || !existsSync(tmp)) {
      throw new BuildError(
        `bun build failed for ${outfile} (exit ${r.code})\n${r.stderr}${r.stdout}`,
      );
    }
    renameSync(tmp, outfile);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Checks what can be checked without running the artifact: a 64-bit little-endian ELF executable
 * for the target's machine, asking for the target's dynamic loader, with an embedded application
 * beyond the runtime's own bytes.
 */
function verifyElf(path: string, t: Target, runtimeSize: number): void {
  const data = readFileSync(path);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const fail = (why: string): never => {
    throw new BuildError(`${path}: not a valid ${t.file} artifact: ${why}`);
  };
  if (data.length < 64 || view.getUint32(0) !== 0x7f454c46) fail("no ELF magic");
  if (data[4] !== 2 || data[5] !== 1) fail("not a 64-bit little-endian ELF");
  if (view.getUint16(16, true) !== 2 && view.getUint16(16, true) !== 3) fail("not an executable");
  const machine = view.getUint16(18, true);
  if (machine !== t.machine) fail(`e_machine ${machine}, expected ${t.machine}`);
  const phoff = Number(view.getBigUint64(32, true));
  const phentsize = view.getUint16(54, true);
  const phnum = view.getUint16(56, true);
  let interpreter: string | null = null;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + 56 > data.length) fail("program header table out of bounds");
    if (view.getUint32(ph, true) !== 3) continue;
    const off = Number(view.getBigUint64(ph + 8, true));
    const size = Number(view.getBigUint64(ph + 32, true));
    interpreter = new TextDecoder().decode(data.subarray(off, off + size)).replace(/\0+$/, "");
  }
  if (interpreter !== t.interpreter) fail(`interpreter ${interpreter}, expected ${t.interpreter}`);
  if (data.indexOf(BUN_TRAILER, runtimeSize) === -1) fail("no embedded application");
}

/** What `--version -d` must print (plain `--version` leaves the revision out). */
function expectedVersionLine(version: string, rev: string): string {
  return `zinit v${version} (${rev})`;
}

function smokeVersion(cmd: string[], path: string, expected: string): void {
  const r = run(cmd);
  if (r.code !== 0 || r.stdout.trim() !== expected) {
    throw new BuildError(
      `smoke run failed: ${cmd.join(" ")} exited ${r.code} printing ${JSON.stringify(r.stdout)}; ` +
        `expected ${JSON.stringify(`${expected}\n`)}\n${r.stderr}`,
    );
  }
  console.log(`  ${path}: ${r.stdout.trim()}`);
}

function nativeArch(): Arch | null {
  const a = hostArch();
  return a === "x64" ? "x86_64" : a === "arm64" ? "aarch64" : null;
}

function hostIsMusl(): boolean {
  return existsSync("/etc/alpine-release") || /musl/i.test(run(["ldd", "--version"]).stderr);
}

/** Debian's libstdc++_pic.a for `arch`, which build/musl-smoke.sh turns into a musl libstdc++. */
function hasLibstdcxxPic(arch: Arch): boolean {
  const gccDir = `/usr/lib/gcc/${arch}-linux-gnu`;
  try {
    return readdirSync(gccDir).some((v) => existsSync(join(gccDir, v, "libstdc++_pic.a")));
  } catch {
    return false;
  }
}

/**
 * How this machine can run a target's artifact: natively; a musl one on a glibc host through
 * build/musl-smoke.sh (Debian: musl musl-tools libstdc++-12-pic binutils); a foreign-arch glibc one under
 * qemu-user with a glibc sysroot (Debian: qemu-user-static libc6-<arch>-cross); or not at all.
 */
function runnerFor(t: Target): string[] | null {
  const native = nativeArch();
  if (t.arch === native) {
    if ((t.libc === "musl") === hostIsMusl()) return [];
    const muslReady =
      t.libc === "musl" &&
      existsSync(t.interpreter) &&
      which("musl-gcc") !== null &&
      which("readelf") !== null &&
      hasLibstdcxxPic(t.arch);
    return muslReady ? ["sh", join(ROOT, "build/musl-smoke.sh")] : null;
  }
  if (t.libc !== "glibc") return null;
  const qemu = which(`qemu-${t.arch}-static`) ?? which(`qemu-${t.arch}`);
  const sysroot = `/usr/${t.arch}-linux-gnu`;
  if (!qemu || !existsSync(join(sysroot, t.interpreter.replace(/^\/lib/, "lib")))) return null;
  return [qemu, "-L", sysroot];
}

async function sha512Base64(path: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha512");
  for await (const chunk of Bun.file(path).stream()) hasher.update(chunk);
  return hasher.digest("base64");
}

async function sha256Hex(path: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) hasher.update(chunk);
  return hasher.digest("hex");
}

/**
 * The runtime binary of a target's @oven/bun-* package, fetched with `npm pack` (npm refuses to
 * install foreign-platform packages) into the runtime cache, under a name made of the package,
 * its version and the start of the sha512 that package-lock.json pins, and checked against that
 * sha512 at every build. Unpacked into `work`, this build's own directory, so that builds running
 * side by side never see each other's half-written files.
 */
async function fetchRuntime(t: Target, bunVersion: string, work: string): Promise<string> {
  const lock = readJson(join(ROOT, "package-lock.json"));
  const entry = (
    lock.packages as Record<string, { version?: string; integrity?: string }> | undefined
  )?.[`node_modules/${t.runtimePkg}`];
  if (entry?.version !== bunVersion || !entry.integrity?.startsWith("sha512-")) {
    throw new BuildError(
      `package-lock.json: no sha512 integrity for ${t.runtimePkg}@${bunVersion} (run npm install)`,
    );
  }
  const want = entry.integrity.slice("sha512-".length);
  const pkgName = t.runtimePkg.replace("@", "").replace("/", "-");
  const key = Buffer.from(want, "base64").toString("hex").slice(0, 16);
  const cache = runtimeCache();
  const tgz = join(cache, `${pkgName}-${bunVersion}-${key}.tgz`);
  if (!existsSync(tgz) || (await sha512Base64(tgz)) !== want) {
    rmSync(tgz, { force: true });
    // npm pack names its file <pkg>-<version>.tgz: fetched into a private directory, then moved.
    const fetchDir = join(work, `fetch-${pkgName}`);
    mkdirSync(fetchDir, { recursive: true });
    mustRun(`npm pack ${t.runtimePkg}@${bunVersion}`, [
      "npm",
      "pack",
      `${t.runtimePkg}@${bunVersion}`,
      "--pack-destination",
      fetchDir,
    ]);
    const packed = join(fetchDir, `${pkgName}-${bunVersion}.tgz`);
    if (!existsSync(packed)) throw new BuildError(`npm pack did not produce ${packed}`);
    const got = await sha512Base64(packed);
    if (got !== want) {
      throw new BuildError(`${packed}: sha512 ${got} does not match package-lock.json's ${want}`);
    }
    try {
      mkdirSync(cache, { recursive: true });
      copyFileSync(packed, `${tgz}.tmp-${process.pid}`);
      renameSync(`${tgz}.tmp-${process.pid}`, tgz);
      console.log(`  cached ${tgz}`);
    } catch (err) {
      // An unwritable cache costs the next build a fetch, not this one its runtime.
      console.log(`  cannot cache ${tgz}: ${(err as Error).message}`);
      rmSync(`${tgz}.tmp-${process.pid}`, { force: true });
      return unpackRuntime(packed, join(work, pkgName));
    }
  }
  return unpackRuntime(tgz, join(work, pkgName));
}

function unpackRuntime(tgz: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  mustRun(`unpacking ${tgz}`, [
    "tar",
    "-xzf",
    tgz,
    "-C",
    dir,
    "--strip-components=1",
    "package/bin/bun",
  ]);
  return join(dir, "bin/bun");
}

async function buildDefault(version: string, rev: string): Promise<void> {
  mkdirSync(DIST, { recursive: true });
  const out = join(DIST, "zinit");
  console.log(`building ${out} (${rev})`);
  compile(out, rev);
  smokeVersion([out, "--version", "-d"], out, expectedVersionLine(version, rev));
}

async function buildRelease(version: string, bunVersion: string, rev: string): Promise<void> {
  mkdirSync(DIST, { recursive: true });
  const expected = expectedVersionLine(version, rev);
  const sums: string[] = [];
  const notRun: string[] = [];
  const work = mkdtempSync(join(tmpdir(), "zinit-release-"));
  try {
    for (const t of TARGETS) {
      const out = join(DIST, t.file);
      console.log(`building ${out} (${rev})`);
      const runtime = await fetchRuntime(t, bunVersion, work);
      compile(out, rev, { bunTarget: t.bunTarget, runtime });
      verifyElf(out, t, Bun.file(runtime).size);
      const runner = runnerFor(t);
      if (runner) smokeVersion([...runner, out, "--version", "-d"], out, expected);
      else if (t.arch === nativeArch()) {
        // Every artifact of this machine's architecture must be seen to start before release.
        throw new BuildError(
          `cannot smoke-run ${t.file} here: install musl, musl-tools, libstdc++-12-pic and binutils (Debian)`,
        );
      } else notRun.push(t.file);
      sums.push(`${await sha256Hex(out)}  ${t.file}\n`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  for (const { from, missing } of PUBLISHED) {
    if (!existsSync(from)) throw new BuildError(`${from} missing (${missing})`);
    const name = basename(from);
    const to = join(DIST, name);
    copyFileSync(from, to);
    sums.push(`${await sha256Hex(to)}  ${name}\n`);
    console.log(`copied ${to}`);
  }
  await Bun.write(join(DIST, "SHA256SUMS"), sums.join(""));
  console.log(`wrote ${join(DIST, "SHA256SUMS")}`);
  if (notRun.length > 0) {
    console.log(`not runnable here, checked as ELF + embedded app only: ${notRun.join(", ")}`);
  }
}

async function main(argv: string[]): Promise<number> {
  const release = argv.includes("--release");
  const unknown = argv.filter((a) => a !== "--release");
  if (unknown.length > 0) {
    console.error(
      `build.ts: unknown argument ${unknown[0]}; usage: bun build/build.ts [--release]`,
    );
    return 2;
  }
  try {
    const { version, bunVersion } = packageVersions();
    const have = run([BUN, "--version"]).stdout.trim();
    if (have !== bunVersion) {
      throw new BuildError(
        `${BUN} is ${have || "missing"}, package.json pins ${bunVersion} (run npm ci)`,
      );
    }
    const rev = revision();
    if (release) await buildRelease(version, bunVersion, rev);
    else await buildDefault(version, rev);
    return 0;
  } catch (err) {
    console.error(`build failed: ${err instanceof BuildError ? err.message : String(err)}`);
    return 1;
  }
}

process.exit(await main(process.argv.slice(2)));
