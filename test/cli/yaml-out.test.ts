import { describe, expect, test } from "bun:test";
import { statsYaml, statusYaml } from "../../src/cli/commands.ts";
import {
  formatReal,
  fromJson,
  needsQuotes,
  Real,
  scalarString,
  toYaml,
} from "../../src/cli/yaml-out.ts";

describe("scalar quoting (yaml-rust need_quotes)", () => {
  test("plain words and upstream state strings", () => {
    for (const s of [
      "Running",
      "Success",
      "redis",
      "a.b",
      "Up",
      "y",
      "N",
      "hello world",
      "a-b",
      "7up",
    ]) {
      expect(scalarString(s)).toBe(s);
    }
  });

  test("the spec's examples", () => {
    expect(scalarString("Error(Exited(Pid(123), 1))")).toBe('"Error(Exited(Pid(123), 1))"');
    expect(scalarString("Error(Signaled(Pid(9), SIGTERM, false))")).toBe(
      '"Error(Signaled(Pid(9), SIGTERM, false))"',
    );
  });

  test("reserved words, numbers and indicators are quoted", () => {
    const quoted = [
      "true",
      "false",
      "True",
      "FALSE",
      "yes",
      "No",
      "on",
      "OFF",
      "null",
      "Null",
      "NULL",
      "~",
      "",
      " a",
      "a ",
      "123",
      "-1",
      "+5",
      "1.5",
      "1e5",
      "1E-3",
      "1.",
      "inf",
      "-Infinity",
      "NaN",
      ".hidden",
      "0x1f",
      "&a",
      "*a",
      "?a",
      "|a",
      "-a",
      "<a",
      ">a",
      "=a",
      "!a",
      "%a",
      "@a",
      "a:b",
      "a{",
      "a}",
      "a[",
      "a]",
      "a,b",
      "a#b",
      "a`b",
      'a"b',
      "a'b",
      "a\\b",
      "a\tb",
      "a\nb",
    ];
    for (const s of quoted) expect([s, needsQuotes(s)]).toEqual([s, true]);
  });

  test("not numeric to Rust: left plain", () => {
    for (const s of ["1_000", "e5", "1e", "0b101", "12abc", "infinit", "1.2.3"]) {
      expect([s, needsQuotes(s)]).toEqual([s, false]);
    }
  });

  test("escapes like yaml-rust escape_str", () => {
    expect(scalarString('say "hi"')).toBe('"say \\"hi\\""');
    expect(scalarString("a\\b")).toBe('"a\\\\b"');
    expect(scalarString("l1\nl2\tx\r")).toBe('"l1\\nl2\\tx\\r"');
    expect(scalarString("\x00\x01\x0b\x1a")).toBe('"\\u0000\\u0001\\u000b\\u001a"');
    expect(scalarString("bell\x07")).toBe('"bell\\u0007"');
    expect(scalarString("esc\x1b[31m")).toBe('"esc\\u001b[31m"');
    expect(scalarString("del\x7f")).toBe('"del\\u007f"');
    expect(scalarString("ünïcødé")).toBe("ünïcødé");
  });
});

describe("floats (ryu f32 through serde_yaml)", () => {
  test("whole numbers get .0, fractions keep their shortest f32 digits", () => {
    expect(formatReal(0)).toBe("0.0");
    expect(formatReal(-0)).toBe("-0.0");
    expect(formatReal(100)).toBe("100.0");
    expect(formatReal(1.5)).toBe("1.5");
    expect(formatReal(0.1)).toBe("0.1");
    expect(formatReal(12.345678901234)).toBe("12.345679");
    expect(formatReal(33.333333333333336)).toBe("33.333332");
  });

  test("exponents and non-finite values", () => {
    expect(formatReal(1e-7)).toBe("1e-7");
    expect(formatReal(0.000001)).toBe("0.000001");
    expect(formatReal(1.5e30)).toBe("1.5e30");
    expect(formatReal(Number.NaN)).toBe(".nan");
    expect(formatReal(Number.POSITIVE_INFINITY)).toBe(".inf");
    expect(formatReal(Number.NEGATIVE_INFINITY)).toBe("-.inf");
    expect(formatReal(1e39)).toBe(".inf");
  });
});

describe("documents", () => {
  test("empty map prints `---` then `{}`", () => {
    expect(toYaml(new Map())).toBe("---\n{}\n");
  });

  test("list-style map", () => {
    const doc = new Map([
      ["a.b", "Running"],
      ["svc", "Error(Exited(Pid(123), 1))"],
      ["true", "Blocked"],
    ]);
    expect(toYaml(doc)).toBe(
      '---\na.b: Running\nsvc: "Error(Exited(Pid(123), 1))"\n"true": Blocked\n',
    );
  });

  test("upstream's status example", () => {
    const status = {
      name: "redis",
      pid: 1234,
      state: "Running",
      target: "Up",
      after: { "redis-init": "Success" },
    };
    expect(statusYaml(status)).toBe(
      "---\nname: redis\npid: 1234\nstate: Running\ntarget: Up\nafter:\n  redis-init: Success\n",
    );
  });

  test("status: struct order whatever the JSON order, empty after, sorted deps", () => {
    const status = { after: {}, target: "Down", state: "Success", pid: 0, name: "x" };
    expect(statusYaml(status)).toBe(
      "---\nname: x\npid: 0\nstate: Success\ntarget: Down\nafter: {}\n",
    );
    const deps = {
      name: "x",
      pid: 0,
      state: "Blocked",
      target: "Up",
      after: { b: "Unknown", a: "Running" },
    };
    expect(statusYaml(deps)).toBe(
      "---\nname: x\npid: 0\nstate: Blocked\ntarget: Up\nafter:\n  a: Running\n  b: Unknown\n",
    );
  });

  test("stats with and without children", () => {
    const stats = {
      name: "web",
      pid: 42,
      memory_usage: 1048576,
      cpu_usage: 2.5,
      children: [
        { pid: 43, memory_usage: 2048, cpu_usage: 0 },
        { pid: 44, memory_usage: 4096, cpu_usage: 12.345678901234 },
      ],
    };
    expect(statsYaml(stats)).toBe(
      [
        "---",
        "name: web",
        "pid: 42",
        "memory_usage: 1048576",
        "cpu_usage: 2.5",
        "children:",
        "  - pid: 43",
        "    memory_usage: 2048",
        "    cpu_usage: 0.0",
        "  - pid: 44",
        "    memory_usage: 4096",
        "    cpu_usage: 12.345679",
        "",
      ].join("\n"),
    );
    expect(statsYaml({ name: "w", pid: 1, memory_usage: 0, cpu_usage: 0, children: [] })).toBe(
      "---\nname: w\npid: 1\nmemory_usage: 0\ncpu_usage: 0.0\nchildren: []\n",
    );
  });

  test("nesting follows yaml-rust's emitter (its own test vectors)", () => {
    const doc = fromJson({ a: { b: { c: "hello" }, d: {} }, e: ["f", "g", { h: [] }] });
    expect(toYaml(doc)).toBe("---\na:\n  b:\n    c: hello\n  d: {}\ne:\n  - f\n  - g\n  - h: []\n");
    const nested = fromJson({ a: ["b", ["c", "d", ["e", "f"]]] });
    expect(toYaml(nested)).toBe("---\na:\n  - b\n  - - c\n    - d\n    - - e\n      - f\n");
  });

  test("scalars: null, booleans, integers, Real", () => {
    expect(toYaml(fromJson({ n: null, t: true, f: false, i: -3, r: 0.25 }))).toBe(
      "---\nn: ~\nt: true\nf: false\ni: -3\nr: 0.25\n",
    );
    expect(toYaml([new Real(3), "x"])).toBe("---\n- 3.0\n- x\n");
    expect(toYaml("plain")).toBe("---\nplain\n");
  });
});
