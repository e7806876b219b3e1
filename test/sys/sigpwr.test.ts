// SIGPWR (LXC's halt signal) reaches zinit although JSC owns SIGPWR for its own thread control:
// in-process through onSigpwr, and end to end against the compiled daemon in each mode.

import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onSigpwr } from "../../src/sys/native.ts";
import { outputMatches } from "../e2e/lib.ts";
import { AS_ROOT } from "../helpers/privilege.ts";
import { Zinit } from "../helpers/zinit.ts";

setDefaultTimeout(60_000);

/** SIGPWR's number on x86_64 and aarch64 Linux; Bun refuses the name "SIGPWR" in process.kill. */
const SIGPWR = 30;

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

/** Allocates and collects for `ms`, and ends a worker, so JSC exercises its own thread control. */
async function churn(ms: number): Promise<void> {
  const worker = new Worker(
    URL.createObjectURL(
      new Blob([
        "setInterval(() => { const a = []; for (let i = 0; i < 1e4; i++) a.push({ i }); }, 1);",
      ]),
    ),
  );
  const end = performance.now() + ms;
  while (performance.now() < end) {
    Array.from({ length: 50_000 }, (_, i) => ({ i }));
    Bun.gc(true);
    // Yields so the worker and the SIGPWR pipe get their turns.
    await Bun.sleep(1);
  }
  worker.terminate();
}

describe("onSigpwr in this process", () => {
  let received = 0;
  const hook = onSigpwr(() => {
    received++;
  });

  test("installs", () => {
    expect(hook).toEqual({ ok: true });
  });

  test("each outside SIGPWR calls back once, and JSC's own SIGPWRs during GC do not", async () => {
    expect(received).toBe(0);
    await churn(1_500);
    expect(received).toBe(0);
    for (let n = 1; n <= 3; n++) {
      process.kill(process.pid, SIGPWR);
      await until(() => received >= n, `SIGPWR callback ${n}`);
      expect(received).toBe(n);
    }
    await churn(500);
    expect(received).toBe(3);
  });

  test("a second hook is refused with a reason", () => {
    expect(onSigpwr(() => {})).toEqual({
      ok: false,
      error: "a SIGPWR hook is already installed",
    });
  });
});

describe("the compiled daemon", () => {
  let z: Zinit | null = null;
  let work = "";

  afterEach(async () => {
    await z?.stop();
    z = null;
    if (work) rmSync(work, { recursive: true, force: true });
    work = "";
  });

  /** Boots with one service that records its clean stop in `<work>/app.stop`. */
  async function boot(container: boolean, pid1: boolean): Promise<Zinit> {
    work = mkdtempSync(join(tmpdir(), "zinit-sigpwr-"));
    z = await Zinit.boot({
      container,
      pid1,
      services: {
        // The ready file is written by the child, which then execs sleep: by then the trap is
        // set in sh and the child's SIGTERM is the default. Written by sh after `sleep &`, it
        // could come before the child's exec, when a SIGTERM to the group is caught by the trap
        // sh's fork inherited and lost at the exec: sleep would live on until the SIGKILL.
        "app.yaml": `exec: sh -c 'trap "echo stopped >> ${work}/app.stop; exit 0" TERM; sh -c "true > ${work}/app.ready; exec sleep 1000" & wait'\n`,
      },
    });
    // "Running" comes at spawn; a SIGTERM before the trap is set would end sh without a record.
    const ready = join(work, "app.ready");
    await z.waitFor(() => existsSync(ready), 20_000, "app to set its trap");
    expect(await z.list()).toEqual({ app: "Running" });
    expect(z.output).not.toContain("SIGPWR cannot be handled here");
    return z;
  }

  AS_ROOT.test(
    "container mode as PID 1: keeps serving after GC, then SIGPWR stops services, exits 0",
    async () => {
      const d = await boot(true, true);
      // The daemon has collected garbage with the hook installed (a full GC ends its startup);
      // hundreds of requests later it must still answer every one.
      for (let i = 0; i < 300; i++) expect(await d.list()).toEqual({ app: "Running" });
      process.kill(d.hostPid(), SIGPWR);
      expect(await d.exited).toBe(0);
      expect(readFileSync(`${work}/app.stop`, "utf8")).toBe("stopped\n");
      expect(d.output).toMatch(/stopped app in \d+\.\d+ s \(SIGTERM\)/);
      await outputMatches(d, /received SIGPWR\n(.*\n)*.*all services stopped; exiting\n$/);
    },
  );

  test("not PID 1: SIGPWR is the same shutdown as SIGTERM", async () => {
    const d = await boot(false, false);
    process.kill(d.hostPid(), SIGPWR);
    expect(await d.exited).toBe(0);
    expect(readFileSync(`${work}/app.stop`, "utf8")).toBe("stopped\n");
    expect(d.output).toMatch(/stopped app in \d+\.\d+ s \(SIGTERM\)/);
    await outputMatches(d, /received SIGPWR\n(.*\n)*.*all services stopped; exiting\n$/);
  });

  // reboot(2) with RB_POWER_OFF in a PID namespace ends its init as if by SIGINT, which
  // `unshare --fork` re-raises on itself (see test/e2e/power.test.ts).
  AS_ROOT.test("init mode as PID 1: SIGPWR powers off", async () => {
    const d = await boot(false, true);
    process.kill(d.hostPid(), SIGPWR);
    expect(await d.exited).toBe(128 + 2);
    expect(d.proc.signalCode).toBe("SIGINT");
    expect(readFileSync(`${work}/app.stop`, "utf8")).toBe("stopped\n");
    expect(d.output).toMatch(/stopped app in \d+\.\d+ s \(SIGTERM\)/);
    await outputMatches(d, /received SIGPWR\n(.*\n)*.*powering off\n$/);
  });
});
