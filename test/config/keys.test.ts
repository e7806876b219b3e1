import { describe, expect, test } from "bun:test";
import { editDistance, suggest, unknownKeys } from "../../src/config/keys.ts";
import { parseService, validateServiceObject } from "../../src/config/schema.ts";

describe("editDistance", () => {
  test("insertions, deletions, substitutions and neighbour swaps cost 1", () => {
    expect(editDistance("exec", "exec")).toBe(0);
    expect(editDistance("onshot", "oneshot")).toBe(1);
    expect(editDistance("shutdown_timout", "shutdown_timeout")).toBe(1);
    expect(editDistance("exce", "exec")).toBe(1);
    expect(editDistance("sginal", "signal")).toBe(1);
    expect(editDistance("", "log")).toBe(3);
    expect(editDistance("kitten", "sitting")).toBe(3);
  });
});

describe("suggest", () => {
  const known = [
    "exec",
    "test",
    "oneshot",
    "shutdown_timeout",
    "restart_delay_ms",
    "log",
    "log_file",
  ];
  test("the nearest key when it is a slip of the keyboard", () => {
    expect(suggest("onshot", known)).toBe("oneshot");
    expect(suggest("Exec", known)).toBe("exec");
    expect(suggest("shutdown_timout", known)).toBe("shutdown_timeout");
    expect(suggest("logfile", known)).toBe("log_file");
  });

  test("the key with its unit when the unit was left out", () => {
    expect(suggest("restart_delay", known)).toBe("restart_delay_ms");
  });

  test("nothing for a different word, and an alias wins", () => {
    expect(suggest("name", known)).toBeNull();
    expect(suggest("description", known)).toBeNull();
    expect(suggest("period_ms", known, { period_ms: "interval_ms" })).toBe("interval_ms");
  });
});

describe("unknownKeys", () => {
  test("nested maps are checked by their own key lists; free-form maps are not", () => {
    const tree = {
      exec: null,
      env: null,
      signal: { stop: null },
      health: { ready: { exec: null } },
    };
    const value = {
      exec: "a",
      env: { ANYTHING: "1" },
      signal: { stp: "x" },
      health: { ready: { exex: "b" }, alive: {} },
      nmae: "x",
    };
    expect(unknownKeys(value, tree)).toEqual([
      { path: ["signal", "stp"], suggestion: "stop" },
      { path: ["health", "ready", "exex"], suggestion: "exec" },
      { path: ["health", "alive"], suggestion: null },
      { path: ["nmae"], suggestion: null },
    ]);
  });
});

describe("warnings of a service file", () => {
  test("in the order they are written, with positions", () => {
    const yaml = [
      "exec: a",
      "healt: {ready: {}}",
      "health:",
      "  live:",
      "    tcp: 127.0.0.1:80",
      "    interval_ms: 100",
      "  ready:",
      "    exec: x",
      "    period_ms: 100",
      "signal: {stop: SIGINT, kill: SIGKILL}",
      "",
    ].join("\n");
    expect(parseService(yaml, "/f.yaml").warnings).toEqual([
      "/f.yaml:2:1: healt: unknown key, ignored; did you mean 'health'?",
      "/f.yaml:6:5: health.live.interval_ms: unknown key, ignored; did you mean 'period_ms'?",
      "/f.yaml:9:5: health.ready.period_ms: unknown key, ignored; did you mean 'interval_ms'?",
      "/f.yaml:10:24: signal.kill: unknown key, ignored",
    ]);
  });

  test("JSON content: the same check, named by the source", () => {
    expect(validateServiceObject({ exec: "a", oneshoot: true }, "content").warnings).toEqual([
      "content: oneshoot: unknown key, ignored; did you mean 'oneshot'?",
    ]);
  });
});
