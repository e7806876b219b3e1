// What a new user meets first: a mistyped config directory, an edited file, log: stdout.

import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AS_ROOT } from "../helpers/privilege.ts";
import { run } from "../helpers/run.ts";
import { cli, ZINIT, Zinit } from "../helpers/zinit.ts";
import { outputMatches } from "./lib.ts";

setDefaultTimeout(60_000);

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

  AS_ROOT.test("as PID 1: created, with a loud warning, and zinit runs", async () => {
    z = await Zinit.boot({ extraArgs: ["-c", "/tmp/zinit-typo-pid1/zinti"] });
    await outputMatches(
      z,
      /WARN config directory '\/tmp\/zinit-typo-pid1\/zinti' did not exist: created it empty, so no service runs \(is -c right\?\)/,
    );
    expect(await z.list()).toEqual({});
    rmSync("/tmp/zinit-typo-pid1", { recursive: true, force: true });
  });
});

AS_ROOT.describe("what the README says about config edits and log: stdout", () => {
  test("restart keeps the loaded config; stop, forget and monitor pick up an edit", async () => {
    z = await Zinit.boot({
      services: { "app.yaml": "exec: sh -c 'echo version 1; exec sleep 1000'\n" },
    });
    const d = z;
    const linesOf = async () => (await cli(d.socket, "log", "-s", "app")).stdout;
    await d.waitFor(async () => (await linesOf()).includes("version 1"), 20_000, "version 1");
    writeFileSync(join(d.configDir, "app.yaml"), "exec: sh -c 'echo version 2; exec sleep 1000'\n");
    expect((await cli(d.socket, "restart", "app", "--wait")).code).toBe(0);
    // The restarted process is the loaded config's: the file is not read again.
    await d.waitFor(
      async () => ((await linesOf()).match(/version 1/g) ?? []).length === 2,
      20_000,
      "the restart's line",
    );
    expect(await linesOf()).not.toContain("version 2");
    for (const verb of ["stop", "forget", "monitor"]) {
      expect(await cli(d.socket, verb, "app")).toMatchObject({ code: 0, stderr: "" });
    }
    await d.waitFor(async () => (await linesOf()).includes("version 2"), 20_000, "version 2");
  });

  test("log: stdout: the lines go to zinit's own output, not to the ring `zinit log` reads", async () => {
    z = await Zinit.boot({
      services: { "loud.yaml": "exec: sh -c 'echo to-stdout-xyz; exec sleep 1000'\nlog: stdout\n" },
    });
    await outputMatches(z, /^to-stdout-xyz$/m);
    const log = await cli(z.socket, "log", "-s");
    expect(log.code).toBe(0);
    expect(log.stdout).not.toContain("to-stdout-xyz");
    expect(log.stdout).not.toContain("[-] loud:");
  });
});
