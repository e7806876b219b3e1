import { expect, test } from "bun:test";
import { CHECK_BYTES, MemoryGuard, SLACK } from "../../src/log/guard.ts";

test("the guard looks at the RSS once per CHECK_BYTES read and collects only past its slack", () => {
  let rss = 100;
  const collections: number[] = [];
  const guard = new MemoryGuard(
    10,
    () => rss,
    () => {
      collections.push(rss);
      rss = 120;
    },
  );
  // Nothing is looked at before CHECK_BYTES; the first look collects, to learn the base.
  guard.took(CHECK_BYTES - 1);
  expect(collections).toEqual([]);
  guard.took(1);
  expect(collections).toEqual([100]);
  // Base 120: up to 120 + budget 10 + SLACK is fine, one byte more is not.
  rss = 120 + 10 + SLACK;
  guard.took(CHECK_BYTES);
  expect(collections).toEqual([100]);
  rss += 1;
  guard.took(CHECK_BYTES / 2);
  expect(collections).toEqual([100]);
  guard.took(CHECK_BYTES / 2);
  expect(collections).toEqual([100, 120 + 10 + SLACK + 1]);
});
