import { describe, expect, test } from "bun:test";
import { linesAfterSnapshot } from "../../src/cli/logs.ts";

describe("linesAfterSnapshot: the subscription backlog minus what the snapshot holds", () => {
  test("in-order daemon: the backlog is the snapshot's tail, nothing is new", () => {
    expect(linesAfterSnapshot(["a", "b", "c"], ["b", "c"])).toEqual([]);
    expect(linesAfterSnapshot(["a", "b", "c"], [])).toEqual([]);
  });

  test("ring smaller than the backlog: the snapshot is the backlog's tail", () => {
    expect(linesAfterSnapshot(["d", "e"], ["b", "c", "d", "e"])).toEqual([]);
  });

  test("lines pushed after the snapshot are kept, in order", () => {
    expect(linesAfterSnapshot(["a", "b", "c"], ["c", "d", "e"])).toEqual(["d", "e"]);
  });

  test("nothing in common, or an empty snapshot: every backlog line is new", () => {
    expect(linesAfterSnapshot(["a", "b"], ["x", "y"])).toEqual(["x", "y"]);
    expect(linesAfterSnapshot([], ["x"])).toEqual(["x"]);
  });

  test("repeated lines: the longest consistent cut wins", () => {
    expect(linesAfterSnapshot(["tick", "tick"], ["tick"])).toEqual([]);
    expect(linesAfterSnapshot(["a", "tick"], ["tick", "tick"])).toEqual(["tick"]);
  });
});
