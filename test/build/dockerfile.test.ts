// The Dockerfile cannot be built here (no Docker engine); what can be checked from its text is.

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ServiceStore } from "../../src/config/store.ts";
import { JSC_OPTIONS } from "../../src/sys/runtime.ts";
import { REPO } from "./release.ts";

const dockerfile = readFileSync(join(REPO, "Dockerfile"), "utf8");
const stages = dockerfile.split(/^FROM /m).slice(1);
const finals = stages.filter((s) => /^ENTRYPOINT /m.test(s));

test("every final image runs zinit init --container, stops with SIGTERM", () => {
  expect(finals).toHaveLength(3);
  for (const stage of finals) {
    expect(stage).toMatch(/^ENTRYPOINT \["\/sbin\/zinit", "init", "--container"\]$/m);
    expect(stage).toMatch(/^STOPSIGNAL SIGTERM$/m);
  }
});

test("every final image sets the runtime's start-up options, so zinit needs no re-exec", () => {
  for (const stage of finals) {
    const env = /^ENV (.*)$/m.exec(stage)?.[1] ?? "";
    const set = Object.fromEntries(env.split(/\s+/).map((kv) => kv.split("=")));
    expect(set).toEqual({ ...JSC_OPTIONS });
  }
});

describe("examples/Dockerfile: the examples in a container", () => {
  const text = readFileSync(join(REPO, "examples/Dockerfile"), "utf8");
  const apk = /^RUN apk add --no-cache (.+)$/m.exec(text)?.[1]?.split(/\s+/) ?? [];

  test("builds on the alpine image, as the README's Docker commands tag it", () => {
    const alpine = finals.find((s) => s.startsWith("alpine:3.20 AS alpine\n"));
    expect(alpine).toBeDefined();
    expect(text).toMatch(/^ARG BASE=zinit:alpine\nFROM \$\{BASE\}$/m);
    expect(text).toMatch(/^COPY \*\.yaml \/etc\/zinit\/$/m);
    const readme = readFileSync(join(REPO, "README.md"), "utf8");
    expect(readme).toContain("docker build --target alpine -t zinit:alpine .");
    expect(readme).toContain("docker build -t zinit-examples examples");
  });

  test("every program an example runs is in that image: busybox's sh, or a package it adds", () => {
    const { services, errors } = new ServiceStore(join(REPO, "examples")).loadAll();
    expect(errors).toEqual([]);
    const programs = new Set<string>();
    for (const config of services.values()) {
      const commands = [config.argv, config.testArgv, config.stop?.argv ?? []];
      for (const probe of [config.ready, config.live]) {
        if (probe?.check.kind === "exec") commands.push(probe.check.command.argv);
      }
      for (const argv of commands) if (argv[0]) programs.add(argv[0]);
    }
    // Alpine's base has busybox (sh, wget, …); python3's package is named as the program.
    expect([...programs].sort()).toEqual(["python3", "sh"]);
    for (const program of programs) expect(["sh", ...apk]).toContain(program);
  });
});
