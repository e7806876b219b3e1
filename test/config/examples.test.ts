// The bundled examples are what a new user runs first: they must load cleanly and do what
// their comments say.

import { describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { check } from "../../src/cli/check.ts";
import { ServiceStore } from "../../src/config/store.ts";
import type { ServiceConfig } from "../../src/core/types.ts";

const EXAMPLES = join(import.meta.dir, "../../examples");
const { services, errors, warnings } = new ServiceStore(EXAMPLES).loadAll();

function service(name: string): ServiceConfig {
  const config = services.get(name);
  if (!config) throw new Error(`examples/${name}.yaml did not load`);
  return config;
}

/** Runs a service's command the way zinit does: argv as split, its env, its resolved `dir`. */
function run(config: ServiceConfig) {
  return Bun.spawn(config.argv, {
    cwd: config.dir,
    env: { ...process.env, ...config.env },
    stdout: "pipe",
    stderr: "pipe",
  });
}

describe("examples/", () => {
  test("every file loads without errors or warnings", () => {
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect([...services.keys()]).toEqual(["crasher", "migrate", "web", "worker"]);
  });

  test("zinit check passes them: no error, no warning, no unknown `after`, no cycle", () => {
    expect(check([EXAMPLES])).toEqual({ files: 4, errors: [], warnings: [] });
  });

  test("web: HTTP server on 127.0.0.1:8081 with a test that requests it", () => {
    const web = service("web");
    expect(web.argv).toEqual(["python3", "-u", "-m", "http.server", "8081", "--bind", "127.0.0.1"]);
    expect(web.dir).toBe(resolve(EXAMPLES));
    expect(web.testArgv).toEqual([
      "python3",
      "-c",
      "import urllib.request as u; u.urlopen('http://127.0.0.1:8081/', timeout=2)",
    ]);
    expect(web.oneshot).toBe(false);
  });

  test("worker: waits for web and migrate, prints a batch line every $INTERVAL s", async () => {
    const worker = service("worker");
    expect(worker.after).toEqual(["web", "migrate"]);
    expect(worker.env).toEqual({ INTERVAL: "3" });
    const proc = run(worker);
    const reader = proc.stdout.getReader();
    const first = await reader.read();
    proc.kill();
    expect(new TextDecoder().decode(first.value)).toBe("processed batch 1\n");
    expect(await proc.exited).not.toBe(0);
  });

  test("migrate: a oneshot that prints and exits 0", async () => {
    const migrate = service("migrate");
    expect(migrate.oneshot).toBe(true);
    const proc = run(migrate);
    expect(await proc.exited).toBe(0);
    expect(await new Response(proc.stdout).text()).toBe("migrating schema...\nmigration done\n");
  });

  test("crasher: exits 1 after a short while, restarted by the default policy", async () => {
    const crasher = service("crasher");
    expect(crasher.oneshot).toBe(false);
    const proc = run(crasher);
    expect(await proc.exited).toBe(1);
    expect(await new Response(proc.stdout).text()).toBe("started\n");
    expect(await new Response(proc.stderr).text()).toBe("failing now\n");
  }, 20_000);
});
