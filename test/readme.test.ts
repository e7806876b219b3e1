// The README promises two commands on a fresh clone; CI and the demo must be exactly those.

import { expect, test } from "bun:test";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rawRequest } from "./helpers/zinit.ts";

const ROOT = join(import.meta.dir, "..");
const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const firstBlocks = [...readme.matchAll(/```sh\n([^`]*?)\n```/g)].slice(0, 2).map((m) => m[1]);
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));

test("the README opens with the demo command and the test command", () => {
  expect(firstBlocks).toEqual(["npm ci && npm run demo", "npm ci && npm test"]);
  // Both come before the first section heading: the first screen.
  expect(readme.indexOf("npm ci && npm test")).toBeLessThan(readme.indexOf("\n## "));
});

test(".ci/run runs the README's test command", () => {
  const ci = readFileSync(join(ROOT, ".ci/run"), "utf8").split("\n");
  expect(ci.some((line) => line.trim().startsWith(firstBlocks[1] ?? "!"))).toBe(true);
  expect(pkg.scripts.test).toBe("bun run build && bun test --timeout 60000");
});

/** True when something (typically a running `npm run demo`) already listens on the port. */
function portBusy(port: number): boolean {
  try {
    Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }).stop(true);
    return false;
  } catch {
    return true;
  }
}

function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/**
 * The demo's two ports (8080 for the API, 8081 for the example web server), or free ones when a
 * running demo holds them: then the examples are copied with the web port replaced.
 */
function demoPorts(): { api: number; configDir: string; cleanup: () => void } {
  const apiBusy = portBusy(8080);
  const webBusy = portBusy(8081);
  if (!apiBusy && !webBusy) return { api: 8080, configDir: "examples", cleanup: () => {} };
  console.warn("port 8080 or 8081 is in use (is `npm run demo` running?): using free ports");
  const dir = mkdtempSync(join(tmpdir(), "zinit-demo-"));
  cpSync(join(ROOT, "examples"), dir, { recursive: true });
  if (webBusy) {
    const web = String(freePort());
    for (const f of readdirSync(dir)) {
      const path = join(dir, f);
      writeFileSync(path, readFileSync(path, "utf8").replaceAll("8081", web));
    }
  }
  return {
    api: apiBusy ? freePort() : 8080,
    configDir: dir,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

test("portBusy sees a port that is held", () => {
  const held = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    expect(portBusy(held.port)).toBe(true);
  } finally {
    held.stop(true);
  }
});

async function runDemo(): Promise<void> {
  const demo: string = pkg.scripts.demo;
  expect(demo).toBe("npm run build && ./dist/zinit init -c examples --http 127.0.0.1:8080");
  const ports = demoPorts();
  const argv = (demo.split(" && ")[1]?.split(" ") ?? []).map((word) =>
    word === "examples" ? ports.configDir : word.replace(":8080", `:${ports.api}`),
  );
  const socket = `/tmp/zinit-demo-${process.pid}.sock`;
  // The same command line, as a user runs it from a terminal (not PID 1), plus a private socket.
  const proc = Bun.spawn([...argv, "-s", socket], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const rpc = async (method: string): Promise<Record<string, string>> => {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method });
    const res = await fetch(`http://127.0.0.1:${ports.api}/`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body,
    });
    return ((await res.json()) as { result: Record<string, string> }).result;
  };
  try {
    const deadline = performance.now() + 30_000;
    let list: Record<string, string> = {};
    while (performance.now() < deadline) {
      list = await rpc("service_list").catch(() => ({}));
      if (list.worker === "Running" && list.web === "Running") break;
      await Bun.sleep(100);
    }
    expect(list).toMatchObject({ migrate: "Success", web: "Running", worker: "Running" });
    expect(Object.keys(list).sort()).toEqual(["crasher", "migrate", "web", "worker"]);
    // The same daemon answers on its unix socket.
    const reply = JSON.parse(
      await rawRequest(socket, '{"jsonrpc":"2.0","id":2,"method":"service_list"}\n'),
    );
    expect(Object.keys(reply.result).sort()).toEqual(["crasher", "migrate", "web", "worker"]);
  } finally {
    proc.kill("SIGINT");
    await proc.exited;
    ports.cleanup();
  }
  // Ctrl-C stops every service in order and exits 0.
  expect(await proc.exited).toBe(0);
  expect(await new Response(proc.stderr).text()).toContain("all services stopped; exiting");
}

test("the demo runs the bundled examples with the HTTP API on 127.0.0.1:8080", runDemo);

test("the demo test still passes while a running demo holds ports 8080 and 8081", async () => {
  // Held here the way `npm run demo` in another terminal holds them (if nothing else already does).
  const held = [8080, 8081].flatMap((port) => {
    try {
      return [Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } })];
    } catch {
      return [];
    }
  });
  try {
    await runDemo();
  } finally {
    for (const h of held) h.stop(true);
  }
});
