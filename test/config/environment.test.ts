import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseEnvironment, readEnvironment, serviceEnv } from "../../src/config/environment.ts";

describe("parseEnvironment", () => {
  test("upstream's rules: trimmed lines, # comments, split at the first =, KEY alone is empty", () => {
    const text = [
      "# comment",
      "PATH=/usr/local/bin:/usr/bin",
      "  LANG=C.UTF-8  ",
      "   # indented comment",
      "URL=http://x/?a=b=c",
      "EMPTY=",
      "FLAG",
      "",
      "",
    ].join("\n");
    expect(parseEnvironment(text)).toEqual({
      PATH: "/usr/local/bin:/usr/bin",
      LANG: "C.UTF-8",
      URL: "http://x/?a=b=c",
      EMPTY: "",
      FLAG: "",
    });
  });

  test("blank lines do not create a variable with an empty name (upstream bug)", () => {
    expect(parseEnvironment("\n\nA=1\n   \n\t\n")).toEqual({ A: "1" });
    expect(Object.keys(parseEnvironment("\n=x\n"))).toEqual([]);
  });

  test("export prefix and one pair of matching quotes are stripped", () => {
    const text = [
      "export A=1",
      "export\tB='two words'",
      'C="double"',
      "D='mismatched\"",
      "E=\"'nested'\"",
      'F=""',
      "G='",
      "export ONLY_EXPORTED",
      "exporter=kept",
      "H = spaced",
    ].join("\n");
    expect(parseEnvironment(text)).toEqual({
      A: "1",
      B: "two words",
      C: "double",
      D: "'mismatched\"",
      E: "'nested'",
      F: "",
      G: "'",
      exporter: "kept",
      H: " spaced",
    });
  });

  test("no interpolation; later lines win; CRLF files work", () => {
    expect(parseEnvironment("A=1\r\nB=$A\r\nA=2\r\n")).toEqual({ A: "2", B: "$A" });
  });

  test("odd names stay ordinary entries; NUL lines are skipped", () => {
    const env = parseEnvironment("__proto__=x\nconstructor=y\nBAD\0=1\nV=a\0b\n");
    expect(Object.keys(env)).toEqual(["__proto__", "constructor"]);
    expect(Object.getPrototypeOf(env)).toBe(Object.prototype);
  });
});

describe("readEnvironment", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "zinit-env-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test("reads and parses the file", () => {
    writeFileSync(join(dir, "environment"), 'A=1\nexport B="2"\n');
    const reports: string[] = [];
    expect(readEnvironment(join(dir, "environment"), (m) => reports.push(m))).toEqual({
      A: "1",
      B: "2",
    });
    expect(reports).toEqual([]);
  });

  test("a missing file is an empty environment, silently", () => {
    const reports: string[] = [];
    expect(readEnvironment(join(dir, "missing"), (m) => reports.push(m))).toEqual({});
    expect(reports).toEqual([]);
  });

  test("any other failure is reported once and yields an empty environment", () => {
    mkdirSync(join(dir, "environment"));
    const reports: string[] = [];
    expect(readEnvironment(join(dir, "environment"), (m) => reports.push(m))).toEqual({});
    expect(reports).toEqual([`failed to load ${dir}/environment file: not a regular file`]);
  });

  test("the default path is /etc/environment", () => {
    const expected = existsSync("/etc/environment")
      ? parseEnvironment(readFileSync("/etc/environment", "utf8"))
      : {};
    expect(readEnvironment()).toEqual(expected);
  });
});

describe("serviceEnv", () => {
  test("base < /etc/environment < service env, without touching the inputs", () => {
    const base = { PATH: "/bin", HOME: "/root", A: "base" };
    const etc = { PATH: "/usr/bin:/bin", A: "etc" };
    const svc = { A: "svc", PORT: "8080" };
    expect(serviceEnv(base, etc, svc)).toEqual({
      PATH: "/usr/bin:/bin",
      HOME: "/root",
      A: "svc",
      PORT: "8080",
    });
    expect(base).toEqual({ PATH: "/bin", HOME: "/root", A: "base" });
    expect(etc).toEqual({ PATH: "/usr/bin:/bin", A: "etc" });
  });
});
