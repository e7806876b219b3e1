// `zinit check`: service files checked offline, as the daemon would load them.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { check } from "../../src/cli/check.ts";
import { runCli } from "./fake-zinit.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "zinit-check-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const write = (name: string, text: string) => writeFileSync(join(dir, name), text);

describe("a directory", () => {
  test("clean: no lines, exit 0", async () => {
    write("web.yaml", "exec: web\nafter: [db]\n");
    write("db.yml", "exec: db\n");
    expect(check([dir])).toEqual({ files: 2, errors: [], warnings: [] });
    expect(await runCli(["check", "-c", dir])).toEqual({
      code: 0,
      stdout: "2 service files checked: 0 errors, 0 warnings\n",
      stderr: "",
    });
  });

  test("schema errors, unknown keys, unknown after names and cycles, one line each", async () => {
    write("a.yaml", "exec: a\nafter: [b, cahce]\nshutdown_timout: 3\n");
    write("b.yaml", "exec: b\nafter:\n  - a\n");
    write("cache.yaml", "exec: c\noneshot: maybe\n");
    write("solo.yaml", "exec: solo\nafter: [solo]\n");
    const errors = [
      `${dir}/cache.yaml:2:10: oneshot: expected true or false, got "maybe"`,
      `${dir}/a.yaml:2:12: after[1]: unknown service 'cahce' (no cahce.yaml or cahce.yml in ${dir}); did you mean 'cache'?`,
      `${dir}/a.yaml:2:9: after[0]: dependency cycle: a -> b -> a`,
      `${dir}/solo.yaml:2:9: after[0]: dependency cycle: solo -> solo`,
    ];
    const warnings = [
      `${dir}/a.yaml:3:1: shutdown_timout: unknown key, ignored; did you mean 'shutdown_timeout'?`,
    ];
    expect(check([dir])).toEqual({ files: 4, errors, warnings });
    expect(await runCli(["check", dir])).toEqual({
      code: 1,
      stdout: [
        ...errors,
        ...warnings.map((w) => `warning: ${w}`),
        "4 service files checked: 4 errors, 1 warning",
        "",
      ].join("\n"),
      stderr: "",
    });
    const json = await runCli(["check", "--json", dir]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({ files: 4, errors, warnings });
  });

  test("warnings alone exit 0", async () => {
    write("web.yaml", "exec: web\nonshot: true\n");
    const r = await runCli(["check", dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `warning: ${dir}/web.yaml:2:1: onshot: unknown key, ignored; did you mean 'oneshot'?\n` +
        "1 service file checked: 0 errors, 1 warning\n",
    );
  });

  test("what the daemon skips is an error: names, shadowed files, unreadable paths", () => {
    write("x.yaml", "exec: x\n");
    write("x.yml", "exec: x\n");
    write("..yaml", "exec: dot\n");
    mkdirSync(join(dir, "sub.yaml"));
    expect(check([dir]).errors).toEqual([
      `${dir}/..yaml: invalid service name ".": must not be '.'`,
      `${dir}/sub.yaml: not a regular file`,
      `${dir}/x.yml: ignored: ${dir}/x.yaml defines service 'x' too`,
    ]);
    expect(check([join(dir, "nope")]).errors).toEqual([
      `${dir}/nope: ENOENT: no such file or directory`,
    ]);
  });
});

describe("files", () => {
  test("each as `monitor` would load it; after names and cycles resolve in its directory", () => {
    write("web.yaml", "exec: web\nafter: [db, queue]\n");
    write("db.yaml", "exec: db\nafter: [web]\n");
    write("other.yaml", "exec: o\noneshot: maybe\n");
    // Only the named file's problems: other.yaml's error is not reported.
    expect(check([join(dir, "web.yaml")])).toEqual({
      files: 1,
      errors: [
        `${dir}/web.yaml:2:13: after[1]: unknown service 'queue' (no queue.yaml or queue.yml in ${dir})`,
        // A cycle is told from its first name, wherever it is closed.
        `${dir}/db.yaml:2:9: after[0]: dependency cycle: db -> web -> db`,
      ],
      warnings: [],
    });
  });

  test("a file that is not a service file, and a broken one", () => {
    write("notes.txt", "exec: a\n");
    write("bad.yml", "exec: [a\n");
    expect(check([join(dir, "notes.txt"), join(dir, "bad.yml")]).errors).toEqual([
      `${dir}/notes.txt: not a service file (NAME.yaml or NAME.yml)`,
      `${dir}/bad.yml:2:1: Flow sequence in block collection must be sufficiently indented and end with a ]`,
    ]);
  });
});
