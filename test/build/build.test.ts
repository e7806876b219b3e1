// build/build.ts: the real dist/zinit, and the build script itself run in a scratch copy of the
// tree with a tiny entry point, so its failure paths can be provoked without touching dist/.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
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

  test("--release: four verified artifacts and a SHA256SUMS that sha256sum -c accepts", () => {
    const r = build(["--release"], { ZINIT_REVISION: "rel" });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const names = [
      "zinit-linux-x86_64",
      "zinit-linux-x86_64-musl",
      "zinit-linux-aarch64",
      "zinit-linux-aarch64-musl",
    ];
    // The service file JSON Schema ships with them, as committed.
    expect(readFileSync(join(dir, "dist/service.schema.json"))).toEqual(
      readFileSync(join(REPO, "schema/service.schema.json")),
    );
    const sums = [...names, "service.schema.json"].map(
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
});
