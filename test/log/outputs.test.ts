// Where a spawned process's output goes, by `log` mode, through the shell's one call into the log
// subsystem (ServiceLogs.open), on the fake Sys with real files.

import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ServiceConfig } from "../../src/core/types.ts";
import { type TestDaemon, testDaemon } from "../helpers/daemon.ts";
import { run } from "../helpers/run.ts";
import { serviceConfig } from "../helpers/service-config.ts";

const TIMEOUT = 60_000;
let t: TestDaemon | null = null;
let dir = "";
afterEach(() => {
  t?.close();
  t = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = "";
});

async function monitor(t: TestDaemon, name: string, over: Partial<ServiceConfig>) {
  t.shell.command((now) => t.shell.core.monitor(name, serviceConfig({ dir: "/", ...over }), now));
  await t.sys.flush();
  return t.sys.find(over.argv?.[0] ?? "sleep");
}

const ISO = "2026-01-01T00:00:00.000Z";

describe("log modes", () => {
  test("file: the ring and the service's log file, with timestamps, its test lines too", async () => {
    dir = mkdtempSync(join(tmpdir(), "zinit-out-"));
    t = await testDaemon({ load: false });
    const path = join(dir, "web.log");
    const p = await monitor(t, "web", {
      log: "file",
      logFile: { path, maxBytes: 1 << 20, keep: 2 },
      argv: ["server"],
      test: "check",
      testArgv: ["check"],
    });
    t.sys.write(p.pid, "stdout", "hello\n");
    t.sys.write(p.pid, "stderr", "oops\n");
    const check = t.sys.find("check");
    t.sys.write(check.pid, "stdout", "probing\n");
    expect(t.daemon.logs("web")).toEqual([
      "[-] web: ------------ [start] ------------",
      "[+] web: hello",
      "[-] web: oops",
    ]);
    expect(readFileSync(path, "utf8")).toBe(
      [
        `${ISO} [-] web: ------------ [start] ------------`,
        `${ISO} [-] web/test: ------------ [start] ------------`,
        `${ISO} [+] web: hello`,
        `${ISO} [-] web: oops`,
        `${ISO} [+] web/test: probing`,
        "",
      ].join("\n"),
    );
  });

  test("file without log_file: DIR/<name>.log under --log-dir, rotated by its settings", async () => {
    dir = mkdtempSync(join(tmpdir(), "zinit-out-"));
    t = await testDaemon({ load: false, logDir: dir });
    const p = await monitor(t, "api", {
      log: "file",
      logFile: { path: null, maxBytes: 4096, keep: 2 },
      argv: ["api"],
    });
    for (let i = 0; i < 200; i++) t.sys.write(p.pid, "stdout", `request ${i} ${"x".repeat(30)}\n`);
    expect(readdirSync(dir).sort()).toEqual(["api.log", "api.log.1", "api.log.2"]);
    expect(readFileSync(join(dir, "api.log"), "utf8").trimEnd().split("\n").at(-1)).toBe(
      `${ISO} [+] api: request 199 ${"x".repeat(30)}`,
    );
  });

  test("ring: with --log-dir every ring service also writes DIR/<name>.log; stdout/none do not", async () => {
    dir = mkdtempSync(join(tmpdir(), "zinit-out-"));
    t = await testDaemon({ load: false, logDir: dir });
    const ring = await monitor(t, "r", { log: "ring", argv: ["ringer"] });
    t.sys.write(ring.pid, "stdout", "in the ring and the file\n");
    const none = await monitor(t, "n", { log: "none", argv: ["quiet"] });
    expect(none.stdout).toBe("null");
    expect(readFileSync(join(dir, "r.log"), "utf8")).toBe(
      `${ISO} [-] r: ------------ [start] ------------\n${ISO} [+] r: in the ring and the file\n`,
    );
    expect(existsSync(join(dir, "n.log"))).toBe(false);
    expect(t.daemon.logs("r")).toEqual([
      "[-] r: ------------ [start] ------------",
      "[+] r: in the ring and the file",
    ]);
  });

  test("a log probe sees every line whatever the mode, even none", async () => {
    t = await testDaemon({ load: false });
    const p = await monitor(t, "p", {
      log: "none",
      argv: ["slow"],
      ready: { check: { kind: "log", pattern: "^ready$" }, intervalMs: null, timeoutMs: 10_000 },
    });
    expect(p.stdout).not.toBe("null");
    expect(t.daemon.list()).toEqual({ p: "Spawned" });
    t.sys.write(p.pid, "stderr", "warming\nready\n");
    await t.sys.flush();
    expect(t.daemon.list()).toEqual({ p: "Running" });
    expect(t.daemon.logs("p")).toEqual([]);
  });

  for (const [format, stdout, stderr] of [
    ["raw", "one\ntwo\n", 'bad "quote"\n'],
    ["prefix", "web | one\nweb | two\n", 'web | bad "quote"\n'],
    [
      "json",
      `{"time":1767225600000,"service":"web","stream":"stdout","line":"one"}\n` +
        `{"time":1767225600000,"service":"web","stream":"stdout","line":"two"}\n`,
      `{"time":1767225600000,"service":"web","stream":"stderr","line":"bad \\"quote\\""}\n`,
    ],
  ] as const) {
    test(
      `stdout, --stdout-format ${format}: each line on zinit's stdout or stderr, never in the ring`,
      async () => {
        const out = await run([
          process.execPath,
          join(import.meta.dir, "fixtures", "stdout-child.ts"),
          format,
        ]);
        expect(out).toEqual({ code: 0, stdout, stderr });
      },
      TIMEOUT,
    );
  }
});
