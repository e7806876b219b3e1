// The real checker of the Prometheus text format: `promtool check metrics` (Debian's prometheus
// package, installed by .ci/run) reads the exposition on stdin and lints it.

import { collect, type RunResult } from "./run.ts";

/** promtool's verdict on `text`, or null (with a warning) where promtool is not installed. */
export async function promtoolCheck(text: string): Promise<RunResult | null> {
  if (Bun.which("promtool") === null) {
    console.warn("promtool check skipped: promtool is not installed (Debian package prometheus)");
    return null;
  }
  const proc = Bun.spawn(["promtool", "check", "metrics"], {
    stdin: new Blob([text]),
    stdout: "pipe",
    stderr: "pipe",
  });
  return collect(proc);
}
