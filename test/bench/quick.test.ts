// Keeps the benchmark harness working: the quick run against zinit alone must finish, exit 0
// and give a number for zinit in every workload. Peers are not installed here (no apt in CI).

import { expect } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { AS_ROOT } from "../helpers/privilege.ts";

const ROOT = join(import.meta.dir, "..", "..");
const WORKLOADS = [
  "restart",
  "startup",
  "memory",
  "idle-cpu",
  "control",
  "readiness",
  "logs",
  "reaping",
  "shutdown",
];

AS_ROOT.test(
  "bun bench/run.ts --quick --only zinit prints a numeric zinit row for every workload",
  async () => {
    expect(existsSync(join(ROOT, "dist", "zinit"))).toBe(true);
    const proc = Bun.spawn(
      [process.execPath, join(ROOT, "bench", "run.ts"), "--quick", "--only", "zinit"],
      {
        cwd: ROOT,
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    const timer = setTimeout(() => proc.kill("SIGKILL"), 170_000);
    const [stdout, stderr, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    clearTimeout(timer);
    if (code !== 0) console.error(stderr);
    expect(code).toBe(0);

    const lines = stdout.split("\n");
    const header = lines.find((l) => l.startsWith("| workload |"));
    expect(header).toBe("| workload | metric | unit | zinit | zinit target |");
    const rows = lines
      .filter((l) => l.startsWith("| ") && !l.startsWith("| workload |"))
      .map((l) => l.slice(2, -2).split(" | "));
    for (const id of WORKLOADS) {
      const numeric = rows.filter((r) => r[0] === id && /^-?[\d,]+(\.\d+)?$/.test(r[3] ?? ""));
      expect({ id, numericRows: numeric.length > 0 }).toEqual({ id, numericRows: true });
    }
    // These must be numbers for zinit specifically, not "n/a" or an error.
    const cell = (id: string, label: string) =>
      rows.find((r) => r[0] === id && r[1]?.startsWith(label))?.[3];
    for (const [id, label] of [
      ["restart", "restart p50, settled"],
      ["restart", "restart p50, crash loop"],
      ["control", "CLI status"],
      ["control", "socket round trip p50"],
      ["readiness", "notify: fd:N, a newline (median)"],
      ["readiness", "notify: systemd, READY=1 (median)"],
      ["readiness", "test polling (median)"],
      ["logs", "throughput"],
      ["shutdown", "100 services in a dependency chain"],
    ] as const) {
      expect({ id, label, value: cell(id, label) }).toEqual({
        id,
        label,
        value: expect.stringMatching(/^[\d,]+(\.\d+)?$/),
      });
    }
    expect(cell("logs", "lines lost")).toBe("0");
    expect(cell("reaping", "zombies")).toBe("0");
  },
  180_000,
);
