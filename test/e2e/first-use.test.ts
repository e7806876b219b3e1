// What a new user meets first: a mistyped config directory.

import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../helpers/run.ts";
import { ZINIT, Zinit } from "../helpers/zinit.ts";
import { outputMatches } from "./lib.ts";

let z: Zinit | null = null;
let dir = "";
afterEach(async () => {
  await z?.stop();
  z = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = "";
});

describe("init -c with a directory that does not exist", () => {
  test("not PID 1: refused with a clear line, exit 1, nothing created", async () => {
    dir = mkdtempSync(join(tmpdir(), "zinit-typo-"));
    const missing = join(dir, "etc", "zinti");
    const r = await run([ZINIT, "init", "-c", missing, "-s", join(dir, "z.sock")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `zinit: ERROR config directory '${missing}' does not exist (create it, or name the right one with -c)\n`,
    );
    expect(existsSync(missing)).toBe(false);
  });

  test("as PID 1: created, with a loud warning, and zinit runs", async () => {
    z = await Zinit.boot({ extraArgs: ["-c", "/tmp/zinit-typo-pid1/zinti"] });
    await outputMatches(
      z,
      /WARN config directory '\/tmp\/zinit-typo-pid1\/zinti' did not exist: created it empty, so no service runs \(is -c right\?\)/,
    );
    expect(await z.list()).toEqual({});
    rmSync("/tmp/zinit-typo-pid1", { recursive: true, force: true });
  });
});
