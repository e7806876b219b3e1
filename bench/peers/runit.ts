// runit: runsvdir over a scan directory, one runsv per service, svlogd for logged services.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DirLogReader } from "../lib/logs.ts";
import { debianVersion, which, writeScanDir } from "./common.ts";
import type { Peer } from "./types.ts";

const scan = (dir: string) => join(dir, "sv");

export const runit: Peer = {
  name: "runit",
  detect() {
    if (!which("runsvdir") || !which("sv")) return { ok: false, reason: "runsvdir/sv not on PATH" };
    return { ok: true, version: debianVersion("runit") ?? "unknown" };
  },
  maxServices: Number.POSITIVE_INFINITY,
  dependencies: false,
  supervises: true,
  restartDelayNote: "not settable (1 s pause only after a run shorter than 1 s)",
  write(dir, services) {
    writeScanDir(scan(dir), services, () => "exec svlogd main");
    for (const svc of services.filter((s) => s.logged)) {
      const main = join(scan(dir), svc.name, "log", "main");
      mkdirSync(main);
      // Rotated at 10 MB, 50 archives kept: room for the whole payload.
      writeFileSync(join(main, "config"), "s10000000\nn50\n");
    }
  },
  command: (dir) => ({ argv: ["runsvdir", scan(dir)] }),
  // SIGTERM makes runsvdir exit and leave every runsv behind; SIGHUP stops them first.
  stopSignal: "SIGHUP",
  statusCommand: (dir, name) => ({ argv: ["sv", "status", join(scan(dir), name)] }),
  logReader: (dir, name, expected, width) =>
    new DirLogReader(join(scan(dir), name, "log", "main"), expected, width),
};
