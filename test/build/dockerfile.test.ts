// The Dockerfile cannot be built here (no Docker engine); what can be checked from its text is.

import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
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
