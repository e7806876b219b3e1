// build/build.ts: the real dist/zinit, and the build script itself run in a scratch copy of the
// tree with a tiny entry point, so its failure paths can be provoked without touching dist/.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { runSync as run } from "../helpers/run.ts";
import { REPO } from "./release.ts";

const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string };
const BUN = join(REPO, "node_modules/.bin/bun");

test("dist/zinit: --version prints exactly `zinit v<version>`; with -d also the revision", () => {
  const bin = join(REPO, "dist/zinit");
  expect(existsSync(bin)).toBe(true);
  const r = run([bin, "--version"]);
  expect(r.code).toBe(0);
  // Two words, as upstream's tag: ZOS's client checks this before it sends shutdown/reboot.
  expect(r.stdout).toBe(`zinit v${pkg.version}\n`);
  expect(run([bin, "-V"]).stdout).toBe(`zinit v${pkg.version}\n`);
  expect(run([bin, "--version", "-d"]).stdout).toMatch(
    new RegExp(
      `^zinit v${pkg.version.replaceAll(".", "\\.")} \\(([0-9a-f]{4,}(\\+dirty)?|unknown)\\)\\n$`,
    ),
  );
});

/** Entry point of the scratch tree; `--node-env` shows what NODE_ENV the bundle baked in. */
const MAIN = `import { BUILD_LINE } from "./version.ts";
if (process.argv[2] === "--node-env") console.log(process.env.NODE_ENV);
else console.log(BUILD_LINE);
`;

describe("build/build.ts in a scratch tree", () => {
  let dir = "";
  let rev = "";
  const git = (...args: string[]) =>
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", ...args], { cwd: dir });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "zinit-build-"));
    mkdirSync(join(dir, "build"));
    mkdirSync(join(dir, "src"));
    mkdirSync(join(dir, "schema"));
    for (const f of [
      "package.json",
      "package-lock.json",
      "build/build.ts",
      "build/musl-smoke.sh",
      "src/version.ts",
      "schema/service.schema.json",
      "install.sh",
      "install_run.sh",
    ]) {
      copyFileSync(join(REPO, f), join(dir, f));
    }
    writeFileSync(join(dir, "src/entry.ts"), MAIN);
    writeFileSync(join(dir, ".gitignore"), "node_modules\ndist\n");
    symlinkSync(join(REPO, "node_modules"), join(dir, "node_modules"));
    expect(git("init", "-q").code).toBe(0);
    expect(git("add", ".").code).toBe(0);
    expect(git("commit", "-qm", "scratch").code).toBe(0);
    rev = git("rev-parse", "--short", "HEAD").stdout.trim();
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  // `bun test` exports NODE_ENV=test; the build must not bake that into the binary.
  const build = (args: string[] = [], env: Record<string, string> = {}) =>
    run([BUN, "build/build.ts", ...args], {
      cwd: dir,
      env: { ...process.env, NODE_ENV: "test", ...env },
    });

  test("clean tree: <rev>, NODE_ENV=production baked in, smoke line printed", () => {
    const r = build();
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const bin = join(dir, "dist/zinit");
    expect(r.stdout).toBe(`building ${bin} (${rev})\n  ${bin}: zinit v${pkg.version} (${rev})\n`);
    expect(run([bin, "--version"]).stdout).toBe(`zinit v${pkg.version} (${rev})\n`);
    expect(run([bin, "--node-env"]).stdout).toBe("production\n");
  });

  test("modified tracked file: <rev>+dirty; ZINIT_REVISION overrides", () => {
    writeFileSync(join(dir, "src/entry.ts"), `${MAIN}// edited\n`);
    try {
      expect(build().code).toBe(0);
      expect(run([join(dir, "dist/zinit"), "--version"]).stdout).toBe(
        `zinit v${pkg.version} (${rev}+dirty)\n`,
      );
      expect(build([], { ZINIT_REVISION: "ci-42" }).code).toBe(0);
      expect(run([join(dir, "dist/zinit"), "--version"]).stdout).toBe(
        `zinit v${pkg.version} (ci-42)\n`,
      );
    } finally {
      writeFileSync(join(dir, "src/entry.ts"), MAIN);
    }
  });

  test("a compile error fails the build and keeps the previous binary", () => {
    expect(build([], { ZINIT_REVISION: "good" }).code).toBe(0);
    const before = readFileSync(join(dir, "dist/zinit"));
    writeFileSync(join(dir, "src/entry.ts"), "export const = ;\n");
    try {
      const r = build();
      expect(r.code).toBe(1);
      expect(r.stderr).toStartWith(
        `build failed: bun build failed for ${join(dir, "dist/zinit")} (exit 1)`,
      );
      expect(readFileSync(join(dir, "dist/zinit")).equals(before)).toBe(true);
      expect(run(["ls", join(dir, "dist")]).stdout).toBe("zinit\n");
    } finally {
      writeFileSync(join(dir, "src/entry.ts"), MAIN);
    }
  });

  test("a binary whose --version is wrong fails the smoke run", () => {
    writeFileSync(join(dir, "src/entry.ts"), 'console.log("zinit 0.0.0 (x)");\n');
    try {
      const r = build([], { ZINIT_REVISION: "abc" });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `build failed: smoke run failed: ${join(dir, "dist/zinit")} --version -d exited 0 printing "zinit 0.0.0 (x)\\n"; expected "zinit v${pkg.version} (abc)\\n"`,
      );
    } finally {
      writeFileSync(join(dir, "src/entry.ts"), MAIN);
    }
  });

  test("unknown argument: usage, exit 2", () => {
    const r = build(["--bogus"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "build.ts: unknown argument --bogus; usage: bun build/build.ts [--release]\n",
    );
  });

  /** The runtime cache the build uses, and the name it keys each target's tarball by. */
  const cacheDir = (xdg?: string) => join(xdg ?? join(homedir(), ".cache"), "zinit-build");
  const lock = JSON.parse(readFileSync(join(REPO, "package-lock.json"), "utf8")) as {
    packages: Record<string, { version: string; integrity: string }>;
  };
  const runtimes = [
    "@oven/bun-linux-x64",
    "@oven/bun-linux-x64-musl",
    "@oven/bun-linux-aarch64",
    "@oven/bun-linux-aarch64-musl",
  ].map((pkgName) => {
    const { version, integrity } = lock.packages[`node_modules/${pkgName}`] ?? {
      version: "",
      integrity: "",
    };
    const sha512 = integrity.replace(/^sha512-/, "");
    const key = Buffer.from(sha512, "base64").toString("hex").slice(0, 16);
    return { sha512, file: `${pkgName.slice(1).replace("/", "-")}-${version}-${key}.tgz` };
  });
  const sha512 = (path: string) => createHash("sha512").update(readFileSync(path)).digest("base64");

  test("--release: four verified artifacts and a SHA256SUMS that sha256sum -c accepts", () => {
    // The scratch tree's node_modules is the repository's: a cache inside it would be thrown
    // away by every `npm ci`. The build keeps the runtimes in the user's cache, keyed.
    const r = build(["--release"], { ZINIT_REVISION: "rel", XDG_CACHE_HOME: "" });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    for (const { file, sha512: want } of runtimes) {
      expect(sha512(join(cacheDir(), file))).toBe(want);
    }
    expect(r.stdout).not.toContain("node_modules");
    const names = [
      "zinit-linux-x86_64",
      "zinit-linux-x86_64-musl",
      "zinit-linux-aarch64",
      "zinit-linux-aarch64-musl",
    ];
    // The service file JSON Schema and the installers ship with them, as committed.
    const published = ["service.schema.json", "install.sh", "install_run.sh"];
    for (const [n, from] of [
      ["service.schema.json", "schema/service.schema.json"],
      ["install.sh", "install.sh"],
      ["install_run.sh", "install_run.sh"],
    ] as const) {
      expect(readFileSync(join(dir, "dist", n))).toEqual(readFileSync(join(REPO, from)));
    }
    const sums = [...names, ...published].map(
      (n) =>
        `${createHash("sha256")
          .update(readFileSync(join(dir, "dist", n)))
          .digest("hex")}  ${n}\n`,
    );
    expect(readFileSync(join(dir, "dist/SHA256SUMS"), "utf8")).toBe(sums.join(""));
    expect(run(["sha256sum", "-c", "SHA256SUMS"], { cwd: join(dir, "dist") }).code).toBe(0);
    // Both x86_64 artifacts must be seen to start (the musl one through build/musl-smoke.sh);
    // aarch64 ones run when qemu-user is installed.
    for (const n of ["zinit-linux-x86_64", "zinit-linux-x86_64-musl"]) {
      expect(r.stdout).toContain(`  ${join(dir, "dist", n)}: zinit v${pkg.version} (rel)\n`);
    }
    const interp = (n: string) =>
      /Requesting program interpreter: ([^\]]+)\]/.exec(
        run(["readelf", "-l", join(dir, "dist", n)]).stdout,
      )?.[1];
    expect(names.map(interp)).toEqual([
      "/lib64/ld-linux-x86-64.so.2",
      "/lib/ld-musl-x86_64.so.1",
      "/lib/ld-linux-aarch64.so.1",
      "/lib/ld-musl-aarch64.so.1",
    ]);
  }, 240_000);

  test("--release: cached runtimes are used as they are; a corrupted one is fetched again", () => {
    // A cache of its own (XDG_CACHE_HOME), filled from the user's by the test above.
    const xdg = join(dir, "xdg-cache");
    mkdirSync(cacheDir(xdg), { recursive: true });
    for (const { file } of runtimes)
      copyFileSync(join(cacheDir(), file), join(cacheDir(xdg), file));
    const [bad] = runtimes;
    if (!bad) throw new Error("no runtimes");
    writeFileSync(join(cacheDir(xdg), bad.file), "not a tarball");
    const r = build(["--release"], { ZINIT_REVISION: "rel", XDG_CACHE_HOME: xdg });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    // Only the corrupted one was fetched; every entry now holds what the lockfile pins.
    expect(r.stdout.match(/^ {2}cached .*$/gm)).toEqual([
      `  cached ${join(cacheDir(xdg), bad.file)}`,
    ]);
    for (const { file, sha512: want } of runtimes) {
      expect(sha512(join(cacheDir(xdg), file))).toBe(want);
    }
    expect(readdirSync(cacheDir(xdg)).sort()).toEqual(runtimes.map((t) => t.file).sort());
  }, 240_000);
});
