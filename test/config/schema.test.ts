import { describe, expect, test } from "bun:test";
import {
  ConfigFileError,
  MAX_SHUTDOWN_TIMEOUT,
  parseService,
  validateServiceObject,
} from "../../src/config/schema.ts";
import { serviceConfig } from "../helpers/service-config.ts";

const FILE = "/etc/zinit/web.yaml";

const defaults = (exec: string, argv: string[]) => serviceConfig({ exec, argv });

/** The config a file's text loads as. */
const load = (yaml: string, file = FILE) => parseService(yaml, file).config;

/** The one-line message parseService throws for `yaml`. */
function errorOf(yaml: string): string {
  try {
    parseService(yaml, FILE);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigFileError);
    return (err as Error).message;
  }
  throw new Error(`no error for ${JSON.stringify(yaml)}`);
}

describe("parseService: accepted files", () => {
  test("minimal file gets upstream's defaults", () => {
    expect(load("exec: redis-server --port 7777\n")).toEqual(
      defaults("redis-server --port 7777", ["redis-server", "--port", "7777"]),
    );
  });

  test("every key", () => {
    const yaml = [
      "exec: sh -c 'echo hi; sleep 5'",
      'test: "curl -sf http://127.0.0.1:8081/"',
      "oneshot: true",
      "shutdown_timeout: 30",
      "after:",
      "  - db",
      "  - cache.v2",
      "signal:",
      "  stop: sighup",
      "log: stdout",
      "env:",
      "  PORT: 08080",
      "  DEBUG: true",
      "  EMPTY:",
      "  RATIO: 1.50",
      "dir: /var/lib/web",
      "name: ignored (unknown keys are ignored like upstream)",
      "",
    ].join("\n");
    expect(load(yaml)).toEqual({
      ...defaults("", []),
      exec: "sh -c 'echo hi; sleep 5'",
      argv: ["sh", "-c", "echo hi; sleep 5"],
      test: "curl -sf http://127.0.0.1:8081/",
      testArgv: ["curl", "-sf", "http://127.0.0.1:8081/"],
      oneshot: true,
      shutdownTimeout: 30,
      after: ["db", "cache.v2"],
      stopSignal: 1,
      restart: "never",
      log: "stdout",
      env: { PORT: "08080", DEBUG: "true", EMPTY: "", RATIO: "1.50" },
      dir: "/var/lib/web",
    });
  });

  test("scalars become their text as written, like serde", () => {
    expect(load("exec: 123").exec).toBe("123");
    expect(load("exec: 1.0").argv).toEqual(["1.0"]);
    expect(load("exec: 0x10").argv).toEqual(["0x10"]);
    expect(load("exec: true").argv).toEqual(["true"]);
    expect(load("exec: 'null'").argv).toEqual(["null"]);
  });

  test("empty or null values mean the default", () => {
    const yaml =
      "exec: a\ntest: ~\noneshot:\nshutdown_timeout: null\nafter:\nsignal:\nenv: ~\ndir:\n";
    expect(load(yaml)).toEqual(defaults("a", ["a"]));
    expect(load("exec: a\nafter: ''\nsignal: {stop: ~}")).toEqual(defaults("a", ["a"]));
  });

  test("log: none, and null / ~ / 'null' as the upstream docs write it", () => {
    for (const value of ["none", "null", "~", "", "'null'"]) {
      expect(load(`exec: a\nlog: ${value}\n`).log).toBe("none");
    }
    expect(load("exec: a\nlog: ring").log).toBe("ring");
  });

  test("signal names are case-insensitive and parsed to their number", () => {
    expect(load("exec: a\nsignal: {stop: SigInt}").stopSignal).toBe(2);
    expect(load("exec: a\nsignal: {stop: sigkill}").stopSignal).toBe(9);
  });

  test("shutdown_timeout accepts 0, a quoted number and the largest safe timer", () => {
    expect(load("exec: a\nshutdown_timeout: 0").shutdownTimeout).toBe(0);
    expect(load("exec: a\nshutdown_timeout: '7'").shutdownTimeout).toBe(7);
    expect(load(`exec: a\nshutdown_timeout: ${MAX_SHUTDOWN_TIMEOUT}`).shutdownTimeout).toBe(
      2147483,
    );
  });

  test("env keeps odd but legal names as ordinary entries", () => {
    const env = load("exec: a\nenv:\n  __proto__: x\n  constructor: y\n").env;
    expect(Object.keys(env)).toEqual(["__proto__", "constructor"]);
    expect(env.constructor as unknown).toBe("y");
    expect(Object.getPrototypeOf(env)).toBe(Object.prototype);
  });

  test("a byte-order mark and CRLF line ends are fine", () => {
    expect(load("\uFEFFexec: a b\r\nlog: none\r\n")).toEqual({
      ...defaults("a b", ["a", "b"]),
      log: "none",
    });
  });

  test("anchors and aliases resolve", () => {
    expect(load("exec: &cmd sleep 1\ntest: *cmd\n").testArgv).toEqual(["sleep", "1"]);
  });
});

describe("parseService: each bad input has its exact error line", () => {
  const cases: [string, string][] = [
    ["", "1:1: exec: missing exec directive"],
    ["# only a comment\n", "1:1: exec: missing exec directive"],
    ["test: true\n", "1:1: exec: missing exec directive"],
    ["exec: ''", "1:7: exec: missing exec directive"],
    ["exec: ~", "1:7: exec: missing exec directive"],
    ["exec: [a, b]", "1:7: exec: expected text, got a list"],
    ["exec: {a: b}", "1:7: exec: expected text, got a map"],
    [
      'exec: "a \'b"',
      '1:7: exec: cannot split "a \'b": unterminated single quote (opened at character 3)',
    ],
    [
      "exec: 'echo \"hi'",
      '1:7: exec: cannot split "echo \\"hi": unterminated double quote (opened at character 6)',
    ],
    ["exec: 'x \\'", '1:7: exec: cannot split "x \\\\": trailing backslash escapes nothing'],
    ["exec: '   '", '1:7: exec: no command in "   "'],
    ["exec: '#!/bin/sh'", '1:7: exec: no command in "#!/bin/sh"'],
    ["exec: '\"\" arg'", '1:7: exec: empty program name in "\\"\\" arg"'],
    ['exec: "a\\0b"', "1:7: exec: must not contain a NUL byte"],
    [
      'exec: a\ntest: "\'"',
      '2:7: test: cannot split "\'": unterminated single quote (opened at character 1)',
    ],
    ["exec: a\ntest: '# none'", '2:7: test: no command in "# none"'],
    ["exec: a\noneshot: yes", '2:10: oneshot: expected true or false, got "yes"'],
    ["exec: a\noneshot: True", '2:10: oneshot: expected true or false, got "True"'],
    ["exec: a\noneshot: 'true'", '2:10: oneshot: expected true or false, got "true"'],
    ["exec: a\noneshot: 1", '2:10: oneshot: expected true or false, got "1"'],
    [
      "exec: a\nshutdown_timeout: abc",
      '2:19: shutdown_timeout: expected a non-negative integer, got "abc"',
    ],
    [
      "exec: a\nshutdown_timeout: -1",
      '2:19: shutdown_timeout: expected a non-negative integer, got "-1"',
    ],
    [
      "exec: a\nshutdown_timeout: 1.5",
      '2:19: shutdown_timeout: expected a non-negative integer, got "1.5"',
    ],
    [
      "exec: a\nshutdown_timeout: 1e3",
      '2:19: shutdown_timeout: expected a non-negative integer, got "1e3"',
    ],
    [
      "exec: a\nshutdown_timeout: true",
      "2:19: shutdown_timeout: expected a non-negative integer, got true",
    ],
    [
      "exec: a\nshutdown_timeout: [1]",
      "2:19: shutdown_timeout: expected a non-negative integer, got a list",
    ],
    [
      "exec: a\nshutdown_timeout: 2147484",
      "2:19: shutdown_timeout: must be at most 2147483 seconds, got 2147484",
    ],
    [
      "exec: a\nshutdown_timeout: 99999999999999999999",
      '2:19: shutdown_timeout: expected a non-negative integer, got "99999999999999999999"',
    ],
    ["exec: a\nafter: web", '2:8: after: expected a list of service names, got "web"'],
    ["exec: a\nafter: {web: 1}", "2:8: after: expected a list of service names, got a map"],
    ["exec: a\nafter: [web, [x]]", "2:14: after[1]: expected text, got a list"],
    [
      "exec: a\nafter: [web, '../x']",
      "2:14: after[1]: invalid service name \"../x\": must not contain '/'",
    ],
    ["exec: a\nafter: ['']", '2:9: after[0]: invalid service name "": must not be empty'],
    ["exec: a\nsignal: SIGTERM", '2:9: signal: expected a map like {stop: SIGTERM}, got "SIGTERM"'],
    ["exec: a\nsignal: [stop]", "2:9: signal: expected a map like {stop: SIGTERM}, got a list"],
    ["exec: a\nsignal: {stop: SIGFOO}", "2:16: signal.stop: unknown signal 'SIGFOO'"],
    [
      "exec: a\nsignal: {stop: term}",
      "2:16: signal.stop: unknown signal 'term' (did you mean 'SIGTERM'?)",
    ],
    ["exec: a\nsignal: {stop: 9}", "2:16: signal.stop: unknown signal '9'"],
    ["exec: a\nsignal: {stop: SIGRTMIN}", "2:16: signal.stop: unknown signal 'SIGRTMIN'"],
    ["exec: a\nsignal: {stop: [SIGTERM]}", "2:16: signal.stop: expected text, got a list"],
    ["exec: a\nlog: Ring", '2:6: log: expected one of ring, stdout, none, file, got "Ring"'],
    ["exec: a\nlog: [ring]", "2:6: log: expected one of ring, stdout, none, file, got a list"],
    ["exec: a\nenv: [A=1]", "2:6: env: expected a map of NAME: value, got a list"],
    ["exec: a\nenv: A=1", '2:6: env: expected a map of NAME: value, got "A=1"'],
    ["exec: a\nenv: {A: [1]}", "2:10: env.A: expected text, got a list"],
    ["exec: a\nenv: {A: {b: 1}}", "2:10: env.A: expected text, got a map"],
    ["exec: a\nenv: {'A=B': 1}", "2:7: env.\"A=B\": variable name must not contain '='"],
    ["exec: a\nenv: {'': 1}", '2:7: env."": variable name must not be empty'],
    ['exec: a\nenv: {A: "x\\0"}', "2:10: env.A: must not contain a NUL byte"],
    ["exec: a\ndir: [/]", "2:6: dir: expected text, got a list"],
    ["- exec: a", "1:1: expected a map of service settings, got a list"],
    ["just text", '1:1: expected a map of service settings, got "just text"'],
    ["exec: a\nexec: b\n", "2:1: Map keys must be unique"],
    ["exec: a\n  b: c\n", "1:7: Nested mappings are not allowed in compact mappings"],
    [
      "exec: [a\n",
      "2:1: Flow sequence in block collection must be sufficiently indented and end with a ]",
    ],
    ["\texec: a\n", "1:1: Tabs are not allowed as indentation"],
    [
      "exec: a\n---\nexec: b\n",
      "2:1: Source contains multiple documents; please use YAML.parseAllDocuments()",
    ],
    [
      "exec: *nothing\n",
      "1:7: Unresolved alias (the anchor must be set before the alias): nothing",
    ],
  ];
  test.each(cases)("%j", (yaml, message) => {
    const sep = /^\d+:\d+: /.test(message) ? ":" : ": ";
    expect(errorOf(yaml)).toBe(`${FILE}${sep}${message}`);
  });

  test("a long bad value is shortened in the message", () => {
    expect(errorOf(`exec: a\nlog: ${"x".repeat(100)}`)).toBe(
      `${FILE}:2:6: log: expected one of ring, stdout, none, file, got "${"x".repeat(60)}…"`,
    );
  });

  test("an alias bomb is refused, not expanded", () => {
    const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 12; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      lines.push(`${name}: &${name} [*${prev}, *${prev}, *${prev}, *${prev}, *${prev}]`);
    }
    lines.push("exec: x");
    expect(errorOf(lines.join("\n"))).toBe(
      `${FILE}: Excessive alias count indicates a resource exhaustion attack`,
    );
  });
});

describe("validateServiceObject (JSON content of service_create)", () => {
  test("shares the schema: defaults and conversion", () => {
    expect(
      validateServiceObject(
        { exec: "sleep 10", oneshot: true, env: { N: 5 }, shutdown_timeout: 3, log: null },
        "svc",
      ).config,
    ).toEqual({
      ...defaults("sleep 10", ["sleep", "10"]),
      oneshot: true,
      restart: "never",
      env: { N: "5" },
      shutdownTimeout: 3,
      log: "none",
    });
    expect(validateServiceObject({ exec: 42 }, "svc").config.argv).toEqual(["42"]);
  });

  const cases: [unknown, string][] = [
    [null, "svc: exec: missing exec directive"],
    [{}, "svc: exec: missing exec directive"],
    [[], "svc: expected a map of service settings, got a list"],
    ["exec: a", 'svc: expected a map of service settings, got "exec: a"'],
    [{ exec: "a", oneshot: "true" }, 'svc: oneshot: expected true or false, got "true"'],
    [
      { exec: "a", shutdown_timeout: 2.5 },
      "svc: shutdown_timeout: expected a non-negative integer, got 2.5",
    ],
    [
      { exec: "a", shutdown_timeout: -3 },
      "svc: shutdown_timeout: expected a non-negative integer, got -3",
    ],
    [{ exec: "a", after: "db" }, 'svc: after: expected a list of service names, got "db"'],
    [
      { exec: "a", signal: { stop: "KILL" } },
      "svc: signal.stop: unknown signal 'KILL' (did you mean 'SIGKILL'?)",
    ],
    [{ exec: "a", env: { "my var": null, X: [] } }, `svc: env.X: expected text, got a list`],
  ];
  test.each(cases)("%j", (obj, message) => {
    expect(() => validateServiceObject(obj, "svc")).toThrow(new ConfigFileError(message));
  });
});
