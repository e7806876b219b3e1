// Tests that need what an ordinary user does not have: root, to boot zinit as PID 1 of a PID
// namespace (`unshare --pid --mount-proc`), chroot into an image tree, make device nodes; or a
// cgroup controller. Bun can skip a test only when it is registered, so such tests are
// registered through a Requirement: when it is not met they are skipped (and their hooks never
// run, so nothing is booted and nothing is left in /tmp), counted, and the preload
// (test/helpers/preload.ts) prints one line at the end of the run saying how many and why.

import { afterAll, beforeAll, describe, test } from "bun:test";

type Body = () => unknown;

export interface Requirement {
  /** Null when the tests can run here; otherwise why not, as the summary line says it. */
  readonly why: string | null;
  describe(label: string, fn: () => void): void;
  test(label: string, fn: Body, timeout?: number): void;
  /** A file-level hook of tests that need this: registered only when it is met. */
  beforeAll(fn: Body, timeout?: number): void;
  afterAll(fn: Body, timeout?: number): void;
}

/** Skipped registrations per reason: [groups, tests]. */
const skipped = new Map<string, { groups: number; tests: number }>();

function count(why: string, kind: "groups" | "tests"): void {
  const entry = skipped.get(why) ?? { groups: 0, tests: 0 };
  entry[kind]++;
  skipped.set(why, entry);
}

export function requirement(why: string | null): Requirement {
  const met = why === null;
  return {
    why,
    describe(label, fn) {
      if (why !== null) count(why, "groups");
      describe.if(met)(label, fn);
    },
    test(label, fn, timeout) {
      if (why !== null) count(why, "tests");
      test.if(met)(label, fn as () => Promise<void>, timeout);
    },
    beforeAll(fn, timeout) {
      if (met) beforeAll(fn as () => Promise<void>, timeout);
    },
    afterAll(fn, timeout) {
      if (met) afterAll(fn as () => Promise<void>, timeout);
    },
  };
}

/** Why this process cannot boot zinit as PID 1 of a new PID namespace, or null. */
function whyNoPidNamespace(): string | null {
  if (process.getuid?.() !== 0) return "not root";
  if (!Bun.which("unshare")) return "no unshare (util-linux)";
  const probe = Bun.spawnSync(["unshare", "--pid", "--fork", "--mount-proc", "true"], {
    stdout: "ignore",
    stderr: "pipe",
  });
  if (probe.exitCode === 0) return null;
  return `unshare --pid --mount-proc fails here: ${probe.stderr.toString().trim()}`;
}

/** Root, with `unshare --pid --fork --mount-proc` working: booting PID 1, chroot, mknod. */
export const AS_ROOT = requirement(whyNoPidNamespace());

/** Root as AS_ROOT, and also `why` (what else is missing, or null). */
export function asRootWith(why: string | null): Requirement {
  return requirement(AS_ROOT.why ?? why);
}

/** Skipped groups and tests, by the reason they could not run. */
export type Tally = ReadonlyMap<string, { groups: number; tests: number }>;

/** The line that says what was skipped and why, or null when nothing was. */
export function summaryLine(tally: Tally): string | null {
  if (tally.size === 0) return null;
  const plural = (n: number, word: string) => (n > 0 ? [`${n} ${word}${n === 1 ? "" : "s"}`] : []);
  const parts = [...tally].map(
    ([why, { groups, tests }]) =>
      `${[...plural(groups, "group"), ...plural(tests, "test")].join(" and ")} (${why})`,
  );
  return `zinit tests skipped here: ${parts.join("; ")}. They boot zinit as PID 1 (unshare --pid --mount-proc), chroot, make device nodes or use cgroups: run the tests as root to include them.`;
}

/** The summary line of this run so far. */
export function skippedSummary(): string | null {
  return summaryLine(skipped);
}
