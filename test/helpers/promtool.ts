// The real checker of the Prometheus text format: `promtool check metrics` (Debian's prometheus
// package, installed by .ci/run) reads the exposition on stdin and lints it.

import { collect, type RunResult } from "./run.ts";

/** promtool's verdict on `text`, or null (with a warning) where promtool is not installed. */
export async function promtoolCheck(text: string): Promise<RunResult | null> {
  if (Bun.which("promtool") === null) {
    console.warn("promtool check skipped: promtool is not installed (Debian package prometheus)");
    return null;
  }
  // Through a pipe, not `stdin: new Blob(…)`: for a Blob, Bun makes a memfd that it leaves open
  // in this process without close-on-exec, so every later spawn of the test process (the sys
  // tests' own posix_spawn) would inherit it.
  const proc = Bun.spawn(["promtool", "check", "metrics"], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  proc.stdin.write(text);
  proc.stdin.end();
  return collect(proc);
}
