// The README promises two commands on a fresh clone; CI and the demo must be exactly those.

import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
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
  expect(pkg.scripts.test).toBe("bun run build && bun test");
});

test("the demo runs the bundled examples with the HTTP API on 127.0.0.1:8080", async () => {
  const demo: string = pkg.scripts.demo;
  expect(demo).toBe("npm run build && ./dist/zinit init -c examples --http 127.0.0.1:8080");
  const argv = demo.split(" && ")[1]?.split(" ") ?? [];
  const socket = `/tmp/zinit-demo-${process.pid}.sock`;
  // The same command line, as a user runs it from a terminal (not PID 1), plus a private socket.
  const proc = Bun.spawn([...argv, "-s", socket], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const rpc = async (method: string): Promise<Record<string, string>> => {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method });
    const res = await fetch("http://127.0.0.1:8080/", {
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
  }
  // Ctrl-C stops every service in order and exits 0.
  expect(await proc.exited).toBe(0);
  expect(await new Response(proc.stderr).text()).toContain("all services stopped; exiting");
});
