// The keys beyond upstream 0.2: each one's values, defaults and exact error lines, and the
// rules between keys. A file without them must mean exactly what it means upstream.

import { describe, expect, test } from "bun:test";
import { ConfigFileError, parseService, validateServiceObject } from "../../src/config/schema.ts";
import {
  DEFAULT_LIVE_FAILURE_THRESHOLD,
  DEFAULT_LIVE_PERIOD_MS,
  DEFAULT_LIVE_TIMEOUT_MS,
  MAX_TIMER_MS,
  TEST_TIMEOUT_MS,
} from "../../src/core/policy.ts";
import type { ServiceConfig } from "../../src/core/types.ts";
import { serviceConfig } from "../helpers/service-config.ts";

const FILE = "/etc/zinit/web.yaml";

const load = (yaml: string): ServiceConfig => parseService(`exec: a\n${yaml}`, FILE).config;

function errorOf(yaml: string): string {
  try {
    parseService(`exec: a\n${yaml}`, FILE);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigFileError);
    return (err as Error).message.slice(FILE.length + 1);
  }
  throw new Error(`no error for ${JSON.stringify(yaml)}`);
}

const base = serviceConfig({ exec: "a", argv: ["a"] });

describe("absent keys mean exactly an upstream 0.2 file", () => {
  test("every new field has its default", () => {
    expect(load("")).toEqual(base);
    expect(load("oneshot: true\n")).toEqual({ ...base, oneshot: true, restart: "never" });
  });

  test("null means the default too", () => {
    const keys = [
      "restart",
      "success_exit_codes",
      "restart_delay_ms",
      "restart_delay_max_ms",
      "stability_period_ms",
      "max_restarts",
      "restart_window_ms",
      "start_timeout_ms",
      "critical",
      "critical_action",
      "exit_on_success",
      "stop",
      "health",
      "notify",
      "watchdog_ms",
      "log_file",
      "log_max_size",
      "log_keep",
    ];
    expect(load(keys.map((k) => `${k}: ~\n`).join(""))).toEqual(base);
  });
});

describe("lifecycle keys", () => {
  test("restart and success_exit_codes", () => {
    expect(load("restart: on-failure\nsuccess_exit_codes: [0, 3, '143']").restart).toBe(
      "on-failure",
    );
    expect(load("success_exit_codes: [0, 3, '143']").successExitCodes).toEqual([0, 3, 143]);
    expect(load("restart: never").restart).toBe("never");
    expect(load("oneshot: true\nrestart: on-failure").restart).toBe("on-failure");
  });

  test("timers, quoted digits accepted, up to the longest timer", () => {
    const c = load(
      [
        "restart_delay_ms: 0",
        "restart_delay_max_ms: '60000'",
        "stability_period_ms: 30000",
        "max_restarts: 5",
        "restart_window_ms: 1000",
        `start_timeout_ms: ${MAX_TIMER_MS}`,
      ].join("\n"),
    );
    expect([
      c.restartDelayMs,
      c.restartDelayMaxMs,
      c.stabilityPeriodMs,
      c.maxRestarts,
      c.restartWindowMs,
      c.startTimeoutMs,
    ]).toEqual([0, 60000, 30000, 5, 1000, MAX_TIMER_MS]);
  });

  test("critical, critical_action, exit_on_success, stop", () => {
    const c = load(
      "critical: true\ncritical_action: poweroff\nexit_on_success: true\nstop: nginx -s quit",
    );
    expect(c.critical).toBe(true);
    expect(c.criticalAction).toBe("poweroff");
    expect(c.exitOnSuccess).toBe(true);
    expect(c.stop).toEqual({ line: "nginx -s quit", argv: ["nginx", "-s", "quit"] });
    expect(load("stop: ''").stop).toBeNull();
  });
});

describe("health", () => {
  test("readiness probes: each kind, with its defaults", () => {
    expect(load("health: {ready: {exec: pg_isready -q}}").ready).toEqual({
      check: { kind: "exec", command: { line: "pg_isready -q", argv: ["pg_isready", "-q"] } },
      intervalMs: null,
      timeoutMs: TEST_TIMEOUT_MS,
    });
    expect(load("health: {ready: {tcp: '[::1]:5432', interval_ms: 250}}").ready).toEqual({
      check: { kind: "tcp", host: "::1", port: 5432 },
      intervalMs: 250,
      timeoutMs: TEST_TIMEOUT_MS,
    });
    expect(load("health: {ready: {http: 'http://127.0.0.1:8080/ready'}}").ready?.check).toEqual({
      kind: "http",
      url: "http://127.0.0.1:8080/ready",
      status: { min: 200, max: 399 },
    });
    expect(load("health: {ready: {http: 'http://localhost/', status: 204}}").ready?.check).toEqual({
      kind: "http",
      url: "http://localhost/",
      status: { min: 204, max: 204 },
    });
    expect(
      load("health: {ready: {http: 'http://localhost/', status: '200-299'}}").ready?.check,
    ).toEqual({ kind: "http", url: "http://localhost/", status: { min: 200, max: 299 } });
    expect(load("health: {ready: {log: 'listening on \\d+', timeout_ms: 30000}}").ready).toEqual({
      check: { kind: "log", pattern: "listening on \\d+" },
      intervalMs: null,
      timeoutMs: 30000,
    });
  });

  test("liveness probe: period_ms is its interval; timeout and threshold defaults", () => {
    expect(load("health: {live: {tcp: 127.0.0.1:6379}}").live).toEqual({
      check: { kind: "tcp", host: "127.0.0.1", port: 6379 },
      intervalMs: DEFAULT_LIVE_PERIOD_MS,
      timeoutMs: DEFAULT_LIVE_TIMEOUT_MS,
      failureThreshold: DEFAULT_LIVE_FAILURE_THRESHOLD,
    });
    expect(
      load("health:\n  live:\n    exec: check\n    period_ms: 2000\n    failure_threshold: 1\n")
        .live,
    ).toMatchObject({ intervalMs: 2000, failureThreshold: 1 });
  });

  test("health.ready with a test that is empty, or with live and a oneshot", () => {
    expect(load("test: ''\nhealth: {ready: {exec: x}}").ready).not.toBeNull();
    const c = load("health: {live: {exec: x}}\ntest: probe");
    expect(c.testArgv).toEqual(["probe"]);
    expect(c.live).not.toBeNull();
  });
});

describe("notify and logs", () => {
  test("notify: systemd with a watchdog, or fd:N", () => {
    const c = load("notify: systemd\nwatchdog_ms: 30000");
    expect(c.notify).toEqual({ kind: "systemd" });
    expect(c.watchdogMs).toBe(30000);
    expect(load("notify: fd:3").notify).toEqual({ kind: "fd", fd: 3 });
    expect(load("notify: 'fd:255'").notify).toEqual({ kind: "fd", fd: 255 });
  });

  test("log: file with its file, size and count", () => {
    const c = load("log: file\nlog_file: /var/log/web.log\nlog_max_size: 10M\nlog_keep: 0");
    expect(c.log).toBe("file");
    expect(c.logFile).toEqual({ path: "/var/log/web.log", maxBytes: 10 * 1024 * 1024, keep: 0 });
    expect(load("log: file\nlog_max_size: 4096").logFile.maxBytes).toBe(4096);
    expect(load("log: file\nlog_max_size: 512k").logFile.maxBytes).toBe(512 * 1024);
    expect(load("log: file\nlog_max_size: 1G").logFile.maxBytes).toBe(1024 ** 3);
    expect(load("log: file").logFile.path).toBeNull();
  });
});

describe("each bad value has its exact error line", () => {
  const cases: [string, string][] = [
    [
      "restart: sometimes",
      '2:10: restart: expected one of always, on-failure, never, got "sometimes"',
    ],
    ["restart: [always]", "2:10: restart: expected one of always, on-failure, never, got a list"],
    [
      "oneshot: true\nrestart: always",
      "3:10: restart: 'always' contradicts oneshot: true (use on-failure or never)",
    ],
    [
      "success_exit_codes: []",
      "2:21: success_exit_codes: expected a non-empty list of exit codes, got an empty list",
    ],
    [
      "success_exit_codes: 0",
      '2:21: success_exit_codes: expected a non-empty list of exit codes, got "0"',
    ],
    ["success_exit_codes: [0, 256]", "2:25: success_exit_codes[1]: must be at most 255, got 256"],
    [
      "success_exit_codes: [-1]",
      '2:22: success_exit_codes[0]: expected a non-negative integer, got "-1"',
    ],
    ["restart_delay_ms: 1.5", '2:19: restart_delay_ms: expected a non-negative integer, got "1.5"'],
    [
      "restart_delay_ms: 5000",
      "2:19: restart_delay_ms: must be at most restart_delay_max_ms (2000, its default), got 5000",
    ],
    [
      "restart_delay_ms: 500\nrestart_delay_max_ms: 100",
      "3:23: restart_delay_max_ms: must be at least restart_delay_ms (500), got 100",
    ],
    [
      `stability_period_ms: ${MAX_TIMER_MS + 1}`,
      `2:22: stability_period_ms: must be at most ${MAX_TIMER_MS} ms, got ${MAX_TIMER_MS + 1}`,
    ],
    ["max_restarts: many", '2:15: max_restarts: expected a non-negative integer, got "many"'],
    ["restart_window_ms: 0", "2:20: restart_window_ms: must be at least 1 ms, got 0"],
    ["start_timeout_ms: 0", "2:19: start_timeout_ms: must be at least 1 ms, got 0"],
    ["critical: yes", '2:11: critical: expected true or false, got "yes"'],
    ["critical_action: halt", '2:18: critical_action: expected reboot or poweroff, got "halt"'],
    ["exit_on_success: 1", '2:18: exit_on_success: expected true or false, got "1"'],
    [
      'stop: "kill \'"',
      `2:7: stop: cannot split "kill '": unterminated single quote (opened at character 6)`,
    ],
    ["health: yes", '2:9: health: expected a map like {ready: …, live: …}, got "yes"'],
    [
      "health: {ready: tcp}",
      '2:17: health.ready: expected a probe map like {tcp: 127.0.0.1:80}, got "tcp"',
    ],
    ["health: {ready: {}}", "2:17: health.ready: expected one of exec, tcp, http or log"],
    ["health: {ready: {exec: ''}}", "2:17: health.ready: expected one of exec, tcp, http or log"],
    [
      "health: {ready: {exec: a, tcp: '127.0.0.1:1'}}",
      "2:27: health.ready.tcp: use only one of exec, tcp, http, log (exec is given too)",
    ],
    [
      "health: {ready: {tcp: 'db:5432'}}",
      "2:23: health.ready.tcp: the host must be an IP address or localhost, not 'db'",
    ],
    [
      "health: {live: {tcp: '127.0.0.1'}}",
      '2:22: health.live.tcp: expected host:port, got "127.0.0.1"',
    ],
    [
      "health: {ready: {http: 'https://127.0.0.1/'}}",
      "2:24: health.ready.http: only http:// URLs are probed, not https://",
    ],
    [
      "health: {ready: {http: 'http://127.0.0.1/', status: 200-199}}",
      '2:53: health.ready.status: expected an HTTP status such as 200 or a range such as "200-299", got "200-199"',
    ],
    ["health: {ready: {exec: a, status: 200}}", "2:27: health.ready.status: only used with http"],
    [
      "health: {live: {log: '(unclosed'}}",
      "2:22: health.live.log: not a valid regular expression: Invalid regular expression: missing )",
    ],
    [
      `health: {live: {log: '${"a".repeat(1001)}'}}`,
      "2:22: health.live.log: must be at most 1000 characters, got 1001",
    ],
    [
      "health: {ready: {exec: a, timeout_ms: 0}}",
      "2:39: health.ready.timeout_ms: must be at least 1 ms, got 0",
    ],
    [
      "health: {live: {exec: a, failure_threshold: 0}}",
      "2:45: health.live.failure_threshold: must be at least 1, got 0",
    ],
    [
      "health: {live: {exec: a, period_ms: 0}}",
      "2:37: health.live.period_ms: must be at least 1 ms, got 0",
    ],
    [
      "test: probe\nhealth: {ready: {exec: a}}",
      "3:10: health.ready: use either test or health.ready, not both",
    ],
    [
      "notify: systemd\nhealth: {ready: {exec: a}}",
      "3:10: health.ready: use either notify or health.ready, not both",
    ],
    ["notify: yes", '2:9: notify: expected systemd or fd:N with N from 3 to 255, got "yes"'],
    ["notify: fd:2", '2:9: notify: expected systemd or fd:N with N from 3 to 255, got "fd:2"'],
    ["notify: fd:256", '2:9: notify: expected systemd or fd:N with N from 3 to 255, got "fd:256"'],
    ["watchdog_ms: 1000", "2:1: watchdog_ms: only used with notify: systemd"],
    ["notify: fd:3\nwatchdog_ms: 1000", "3:1: watchdog_ms: only used with notify: systemd"],
    ["notify: systemd\nwatchdog_ms: 0", "3:14: watchdog_ms: must be at least 1 ms, got 0"],
    ["log: ring\nlog_file: /var/log/a.log", "3:1: log_file: only used with log: file"],
    ["log_max_size: 10M", "2:1: log_max_size: only used with log: file"],
    ["log_keep: 2", "2:1: log_keep: only used with log: file"],
    ["log: file\nlog_max_size: 4095", "3:15: log_max_size: must be at least 4096 bytes, got 4095"],
    [
      "log: file\nlog_max_size: 10MB",
      '3:15: log_max_size: expected a size in bytes such as 1048576, 512K, 10M or 1G, got "10MB"',
    ],
    ["log: file\nlog_keep: 1001", "3:11: log_keep: must be at most 1000, got 1001"],
    ["log: file\nlog_file: [a]", "3:11: log_file: expected text, got a list"],
  ];
  test.each(cases)("%j", (yaml, message) => {
    expect(errorOf(yaml)).toBe(message);
  });

  test("service_create content: the same rules, named by field without a position", () => {
    const cases: [Record<string, unknown>, string][] = [
      [
        { exec: "a", restart: "always", oneshot: true },
        "content: restart: 'always' contradicts oneshot: true (use on-failure or never)",
      ],
      [
        { exec: "a", health: { ready: { tcp: "127.0.0.1:80", status: 200 } } },
        "content: health.ready.status: only used with http",
      ],
      [
        { exec: "a", success_exit_codes: [0, 2.5] },
        "content: success_exit_codes[1]: expected a non-negative integer, got 2.5",
      ],
      [{ exec: "a", log_keep: 3 }, "content: log_keep: only used with log: file"],
    ];
    for (const [content, message] of cases) {
      expect(() => validateServiceObject(content, "content")).toThrow(new ConfigFileError(message));
    }
    expect(
      validateServiceObject(
        { exec: "a", restart_delay_ms: 250, log: "file", log_max_size: "1M" },
        "content",
      ).config,
    ).toMatchObject({ restartDelayMs: 250, logFile: { maxBytes: 1 << 20 } });
  });
});

describe("an unquoted ': ' in a value", () => {
  test("gets a hint to quote the whole value, naming the key", () => {
    expect(() => parseService("exec: sh -c echo ready: yes\n", FILE)).toThrow(
      new ConfigFileError(
        `${FILE}:1:7: exec: Nested mappings are not allowed in compact mappings: quote the whole exec value (a plain value cannot contain ": ")`,
      ),
    );
    expect(() => parseService("exec: a\nhealth:\n  live:\n    exec: curl -H a: b\n", FILE)).toThrow(
      new ConfigFileError(
        `${FILE}:4:11: exec: Nested mappings are not allowed in compact mappings: quote the whole exec value (a plain value cannot contain ": ")`,
      ),
    );
    expect(parseService(`exec: "sh -c 'echo ready: yes'"\n`, FILE).config.argv).toEqual([
      "sh",
      "-c",
      "echo ready: yes",
    ]);
  });
});
