import { describe, expect, test } from "bun:test";
import { scanUsage, usageOf } from "../../src/shell/usage.ts";
import { parseStat } from "../../src/sys/proc.ts";

describe("usage", () => {
  test("the fields after the comm, which may hold spaces and parentheses", () => {
    const line =
      "4242 (we (i) rd) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 3 1 20 0 1 0 98765 10485760 321 18446744073709551615";
    const stat = parseStat(line);
    expect(stat).not.toBeNull();
    expect(usageOf(stat as NonNullable<typeof stat>, 100, 4096)).toEqual({
      pid: 4242,
      ppid: 1,
      sid: 4242,
      starttime: 98765,
      rss: 321 * 4096,
      cpuSeconds: 3,
    });
  });

  test("malformed lines are null", () => {
    expect(parseStat("1 (x) S 1 2")).toBeNull();
    expect(parseStat("garbage")).toBeNull();
  });

  test("a real scan finds this process with its parent and some memory", () => {
    const me = scanUsage().find((p) => p.pid === process.pid);
    expect(me).toMatchObject({ ppid: process.ppid });
    expect(me?.rss).toBeGreaterThan(1_000_000);
    expect(me?.cpuSeconds).toBeGreaterThan(0);
  });
});
