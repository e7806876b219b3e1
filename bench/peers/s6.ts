// s6: s6-svscan over a scan directory, one s6-supervise per service, s6-log for logged services.

import { join } from "node:path";
import { DirLogReader } from "../lib/logs.ts";
import { debianVersion, which, writeScanDir } from "./common.ts";
import type { Peer } from "./types.ts";

const scan = (dir: string) => join(dir, "scan");
const logDir = (dir: string, name: string) => join(dir, "logs", name);

export const s6: Peer = {
  name: "s6",
  detect() {
    if (!which("s6-svscan") || !which("s6-svstat"))
      return { ok: false, reason: "s6-svscan not on PATH" };
    return { ok: true, version: debianVersion("s6") ?? "unknown" };
  },
  maxServices: Number.POSITIVE_INFINITY,
  dependencies: false,
  supervises: true,
  restartDelayNote:
    "not settable in s6 2.11 (1 s minimum between two spawns; measured here, each restart after a SIGKILL comes about 1 s after the death, even after a 10 s run)",
  write(dir, services) {
    // Rotated at 10 MB, 50 archives kept: room for the whole payload.
    writeScanDir(
      scan(dir),
      services,
      (name) => `mkdir -p ${logDir(dir, name)} && exec s6-log n50 s10000000 ${logDir(dir, name)}`,
    );
  },
  // -c: room for 1000 services plus their loggers (the default cap is 1000 service dirs).
  command: (dir) => ({ argv: ["s6-svscan", "-c", "4096", scan(dir)] }),
  stopSignal: "SIGTERM",
  statusCommand: (dir, name) => ({ argv: ["s6-svstat", join(scan(dir), name)] }),
  logReader: (dir, name, expected, width) => new DirLogReader(logDir(dir, name), expected, width),
};
