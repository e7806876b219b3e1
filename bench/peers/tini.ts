// tini: PID-1 duties only (one child, signal forwarding, reaping); no restarts, no logs.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { probe, which } from "./common.ts";
import type { Peer } from "./types.ts";

export const tini: Peer = {
  name: "tini",
  detect() {
    if (!which("tini")) return { ok: false, reason: "tini not on PATH" };
    return { ok: true, version: probe(["tini", "--version"]) ?? "unknown" };
  },
  maxServices: 1,
  dependencies: false,
  supervises: false,
  restartDelayNote: "never restarts",
  write(dir, services) {
    if (services.length !== 1)
      throw new Error(`tini runs exactly one child, not ${services.length}`);
    writeFileSync(join(dir, "child.json"), JSON.stringify(services[0]!.argv));
  },
  command(dir) {
    const argv = JSON.parse(readFileSync(join(dir, "child.json"), "utf8")) as string[];
    // -s: reap orphans as a subreaper too when tini is not PID 1.
    return { argv: ["tini", "-s", "--", ...argv] };
  },
  stopSignal: "SIGTERM",
};
