import { describe, expect, test } from "bun:test";
import { dependencyWaves } from "../../src/cli/order.ts";

const waves = (after: Record<string, string[]>) => dependencyWaves(new Map(Object.entries(after)));

describe("dependencyWaves", () => {
  test("each wave depends only on earlier ones; independent services share a wave", () => {
    expect(waves({ web: ["db", "cache"], db: [], cache: [], worker: ["web"], cron: [] })).toEqual([
      ["cache", "cron", "db"],
      ["web"],
      ["worker"],
    ]);
  });

  test("only dependencies among the services handled count", () => {
    expect(waves({ web: ["db"], worker: ["web", "queue"] })).toEqual([["web"], ["worker"]]);
  });

  test("a cycle comes last, in one wave, and blocks only what depends on it", () => {
    expect(waves({ a: ["b"], b: ["a"], c: [], d: ["a"], e: ["e"] })).toEqual([
      ["c", "e"],
      ["a", "b", "d"],
    ]);
  });

  test("a 20,000-service chain without recursion", () => {
    const after: Record<string, string[]> = {};
    for (let i = 0; i < 20_000; i++) after[`s${i}`] = i === 0 ? [] : [`s${i - 1}`];
    const w = waves(after);
    expect(w).toHaveLength(20_000);
    expect(w[19_999]).toEqual(["s19999"]);
  });
});
