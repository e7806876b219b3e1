import { expect, test } from "bun:test";
import { components, findCycles } from "../../src/core/graph.ts";
import { restartDelay, testRetryDelay } from "../../src/core/policy.ts";
import { ShutdownOrder } from "../../src/core/shutdown.ts";
import { exitState, shellExitCode, stateString } from "../../src/core/state.ts";

const g = (o: Record<string, string[]>) => new Map(Object.entries(o));

test("findCycles: each cycle once, from its smallest name; unknown names ignored", () => {
  expect(findCycles(g({ a: ["b"], b: ["c"], c: ["a"], d: ["a", "zz"] }))).toEqual([
    ["a", "b", "c", "a"],
  ]);
  expect(findCycles(g({ x: ["x"] }))).toEqual([["x", "x"]]);
  expect(findCycles(g({ a: ["b"], b: [] }))).toEqual([]);
});

test("findCycles and components walk a 50,000-deep chain without recursion", () => {
  const n = 50_000;
  const chain = new Map<string, string[]>();
  for (let i = 0; i < n; i++) chain.set(`s${i}`, i + 1 < n ? [`s${i + 1}`] : ["s0"]);
  expect(findCycles(chain)).toHaveLength(1);
  expect(components(new Set(chain.keys()), (x) => chain.get(x) ?? [])).toHaveLength(1);
});

test("components: reverse topological order, cycles grouped", () => {
  const deps = g({ web: ["app"], app: ["db"], db: [], a: ["b"], b: ["a", "db"] });
  const out = components(new Set(deps.keys()), (x) => deps.get(x) ?? []);
  expect(out).toContainEqual(["a", "b"]);
  const at = (name: string) => out.findIndex((c) => c.includes(name));
  expect(at("db")).toBeLessThan(at("app"));
  expect(at("app")).toBeLessThan(at("web"));
  expect(at("db")).toBeLessThan(at("a"));
});

test("ShutdownOrder: dependents first, independents together, cycles before what they need", () => {
  const deps = g({ web: ["app"], app: ["db", "db"], db: [], solo: [] });
  const order = new ShutdownOrder(deps.keys(), (x) => deps.get(x) ?? []);
  expect(order.begin()).toEqual(["solo", "web"]);
  expect(order.stopped("solo")).toEqual([]);
  expect(order.stopped("web")).toEqual(["app"]);
  expect(order.stopped("app")).toEqual(["db"]);
  expect(order.done).toBe(false);
  expect(order.stopped("db")).toEqual([]);
  expect(order.done).toBe(true);

  const cyc = g({ a: ["b", "base"], b: ["a"], top: ["a"], base: [], self: ["self"] });
  const o2 = new ShutdownOrder(cyc.keys(), (x) => cyc.get(x) ?? []);
  expect(o2.begin()).toEqual(["self", "top"]);
  expect(o2.stopped("self")).toEqual([]);
  // Only the cycle is left above `base`: both members stop together, `base` after `a`.
  expect(o2.stopped("top")).toEqual(["a", "b"]);
  expect(o2.stopped("a")).toEqual(["base"]);
  expect(o2.stopped("b")).toEqual([]);
  expect(o2.stopped("base")).toEqual([]);
  expect(o2.done).toBe(true);
  // A name the order never had changes nothing.
  expect(o2.stopped("ghost")).toEqual([]);
});

test("policy delays", () => {
  expect([0, 1, 2, 3, 4, 5, 6, 7].map((n) => restartDelay(n, 100, 2000))).toEqual([
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
  expect(stateString(exitState(12, { kind: "exited", code: 3 }, [0, 3]))).toBe("Success");
  expect(shellExitCode({ kind: "exited", code: 3 })).toBe(3);
  expect(shellExitCode({ kind: "signaled", signal: 9, core: false })).toBe(137);
});
