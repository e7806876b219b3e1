// The line a run as another user ends with: how many tests were skipped, and why.

import { expect, test } from "bun:test";
import { summaryLine } from "./privilege.ts";

test("nothing skipped: no line", () => {
  expect(summaryLine(new Map())).toBeNull();
});

test("groups and tests per reason, singular and plural", () => {
  const line = summaryLine(
    new Map([
      ["not root", { groups: 26, tests: 1 }],
      ["no cgroup v1 memory controller at /sys/fs/cgroup/memory", { groups: 0, tests: 2 }],
    ]),
  );
  expect(line).toBe(
    "zinit tests skipped here: 26 groups and 1 test (not root); 2 tests (no cgroup v1 memory controller at /sys/fs/cgroup/memory). They boot zinit as PID 1 (unshare --pid --mount-proc), chroot, make device nodes or use cgroups: run the tests as root to include them.",
  );
});
