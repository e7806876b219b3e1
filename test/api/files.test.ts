// The file methods and `monitor` through the real daemon and its store (over the fake Sys): what
// the daemon logs about service files, and service_create against a shutdown.

import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { ApiError } from "../../src/api/errors.ts";
import { type TestDaemon, testDaemon } from "../helpers/daemon.ts";
import { shuttingDownError } from "../helpers/rpc-errors.ts";

let t: TestDaemon | null = null;
afterEach(() => {
  t?.close();
  t = null;
});

async function outcome(
  d: TestDaemon,
  method: string,
  params: unknown,
): Promise<{ result: unknown } | { error: unknown }> {
  try {
    return { result: await d.call(method, params) };
  } catch (err) {
    if (err instanceof ApiError) return { error: err.toJSON() };
    throw err;
  }
}

describe("monitor", () => {
  test("a broken file: the cause is in cause_chain and logged exactly as at start-up", async () => {
    t = await testDaemon({ load: false });
    t.write("web", "exec: /bin/web\nshutdown_timeout: soon\n");
    const line = `${join(t.configDir, "web.yaml")}:2:19: shutdown_timeout: expected a non-negative integer, got "soon"`;
    // What `zinit init` does with the directory, then what `zinit monitor web` does.
    expect(t.files.loadAll().errors).toEqual([line]);
    const out = (await outcome(t, "service_monitor", ["web"])) as {
      error: { code: number; message: string; data: { cause_chain: string[] } };
    };
    expect(out.error.code).toBe(-32005);
    expect(out.error.message).toBe("monitoring service: failed to load 'web.yaml'");
    expect(out.error.data.cause_chain).toEqual([line]);
    expect(t.said).toEqual([
      `ERROR skipping service file: ${line}`,
      `ERROR skipping service file: ${line}`,
    ]);
    expect(t.ring.snapshot("zinit")).toEqual([
      `[-] zinit: skipping service file: ${line}`,
      `[-] zinit: skipping service file: ${line}`,
    ]);
  });

  test("a missing file says which names were tried", async () => {
    t = await testDaemon({ load: false });
    const out = (await outcome(t, "service_monitor", ["ghost"])) as {
      error: { data: { cause_chain: string[] } };
    };
    const line = `${join(t.configDir, "ghost.yaml")}: no such file (nor ghost.yml)`;
    expect(out.error.data.cause_chain).toEqual([line]);
    expect(t.said).toEqual([`ERROR skipping service file: ${line}`]);
  });

  test("unknown keys: the service is monitored, each key logged with a suggestion", async () => {
    t = await testDaemon({ load: false });
    t.write("web", "exec: /bin/web\nonshot: true\n");
    expect(await outcome(t, "service_monitor", ["web"])).toEqual({ result: null });
    await t.sys.flush();
    expect(t.daemon.list()).toEqual({ web: "Running" });
    expect(t.said).toContain(
      `WARN ${join(t.configDir, "web.yaml")}:2:1: onshot: unknown key, ignored; did you mean 'oneshot'?`,
    );
  });
});

describe("service_create", () => {
  test("unknown keys in the content: upstream's reply, one log line per key", async () => {
    t = await testDaemon({ load: false });
    const content = { exec: "/bin/x", health: { ready: { tcp: "127.0.0.1:80", retries: 3 } } };
    expect(await outcome(t, "service_create", ["x", content])).toEqual({
      result: "Service 'x' created successfully",
    });
    expect(t.said).toEqual([
      "WARN service_create 'x': content: health.ready.retries: unknown key, ignored",
    ]);
  });

  test("racing system_shutdown: answered either way, and no temporary file is left", async () => {
    // The shutdown lands 0, 1, 2 … microtasks after the create was called.
    const seen = new Set<string>();
    for (let delay = 0; delay < 4; delay++) {
      t?.close();
      t = await testDaemon({ load: false });
      const d = t;
      const created = outcome(d, "service_create", ["late", { exec: "/bin/late" }]);
      for (let i = 0; i < delay; i++) await null;
      expect(await outcome(d, "system_shutdown", [])).toEqual({ result: null });
      const answer = await created;
      if ("result" in answer) {
        expect(answer).toEqual({ result: "Service 'late' created successfully" });
        expect(readdirSync(d.configDir)).toEqual(["late.yaml"]);
        seen.add("created");
      } else {
        expect(answer).toEqual({ error: shuttingDownError("creating service", "late") });
        expect(readdirSync(d.configDir)).toEqual([]);
        seen.add("refused");
      }
      await d.sys.flush();
      expect(d.powered).toEqual([{ mode: "exit", exitCode: 0 }]);
      // Once the shutdown has begun, refused.
      expect(await outcome(d, "service_create", ["later", { exec: "/bin/x" }])).toEqual({
        error: shuttingDownError("creating service", "later"),
      });
      expect(readdirSync(d.configDir).filter((f) => f.startsWith(".zinit-create-"))).toEqual([]);
    }
    expect([...seen].sort()).toEqual(["created", "refused"]);
  });
});
