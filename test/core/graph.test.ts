import { expect, test } from "bun:test";
import { findCycles, stoppableNow } from "../../src/core/graph.ts";
import { restartDelay, testRetryDelay } from "../../src/core/policy.ts";
import { exitState, stateString } from "../../src/core/state.ts";

const g = (o: Record<string, string[]>) => new Map(Object.entries(o));

test("findCycles: each cycle once, from its smallest name; unknown names ignored", () => {
  expect(findCycles(g({ a: ["b"], b: ["c"], c: ["a"], d: ["a", "zz"] }))).toEqual([
    ["a", "b", "c", "a"],
  ]);
  expect(findCycles(g({ x: ["x"] }))).toEqual([["x", "x"]]);
  expect(findCycles(g({ a: ["b"], b: [] }))).toEqual([]);
});

test("stoppableNow: dependents first, cycles broken before what they depend on", () => {
  const deps = g({ web: ["app"], app: ["db"], db: [], solo: [] });
  expect(stoppableNow(deps, new Set(["web", "app", "db", "solo"]))).toEqual(["solo", "web"]);
  expect(stoppableNow(deps, new Set(["app", "db"]))).toEqual(["app"]);
  const cyc = g({ a: ["b"], b: ["a"], a2: [], base: [] });
  cyc.set("a", ["b", "base"]);
  expect(stoppableNow(cyc, new Set(["a", "b", "base"]))).toEqual(["a", "b"]);
  expect(stoppableNow(cyc, new Set(["base"]))).toEqual(["base"]);
});

test("policy delays", () => {
  expect([0, 1, 2, 3, 4, 5, 6, 7].map(restartDelay)).toEqual([
    0, 100, 200, 400, 800, 1600, 2000, 2000,
  ]);
  expect([1, 2, 3, 10].map(testRetryDelay)).toEqual([50, 100, 200, 2000]);
});

test("state strings are upstream's Debug forms", () => {
  expect(stateString(exitState(12, { kind: "exited", code: 1 }))).toBe("Error(Exited(Pid(12), 1))");
  expect(stateString(exitState(12, { kind: "signaled", signal: 15, core: false }))).toBe(
    "Error(Signaled(Pid(12), SIGTERM, false))",
  );
  expect(stateString(exitState(3, { kind: "signaled", signal: 11, core: true }))).toBe(
    "Error(Signaled(Pid(3), SIGSEGV, true))",
  );
  expect(stateString(exitState(12, { kind: "exited", code: 0 }))).toBe("Success");
  expect(stateString({ kind: "TestFailure" })).toBe("TestFailure");
});
