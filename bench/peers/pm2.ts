// pm2 (Node): pm2-runtime in the foreground, as in containers; its CLI talks to the same daemon
// through PM2_HOME.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DirLogReader } from "../lib/logs.ts";
import { which } from "./common.ts";
import type { Peer } from "./types.ts";

export const PM2_VERSION = "7.0.4";
export const PM2_PREFIX = join(import.meta.dir, "..", ".peers");
const bin = (tool: string) => join(PM2_PREFIX, "node_modules", ".bin", tool);
const home = (dir: string) => ({ PM2_HOME: join(dir, "pm2home") });
const eco = (dir: string) => join(dir, "ecosystem.config.js");
const logDir = (dir: string, name: string) => join(dir, "logs", name);

export const pm2: Peer = {
  name: "pm2",
  detect() {
    if (!which("node")) return { ok: false, reason: "node not on PATH" };
    const pkg = join(PM2_PREFIX, "node_modules", "pm2", "package.json");
    if (!existsSync(pkg) || !existsSync(bin("pm2-runtime"))) {
      return { ok: false, reason: `pm2 not installed in ${PM2_PREFIX}` };
    }
    return {
      ok: true,
      version: (JSON.parse(readFileSync(pkg, "utf8")) as { version: string }).version,
    };
  },
  maxServices: Number.POSITIVE_INFINITY,
  dependencies: false,
  supervises: true,
  restartDelayNote:
    "restart_delay, default 0 ms (already the minimum); a run shorter than min_uptime, 1 s, is unstable, and after max_restarts of them the app is errored",
  write(dir, services) {
    const apps = services.map((svc) => {
      const app: Record<string, unknown> = {
        name: svc.name,
        script: svc.argv[0],
        args: svc.argv.slice(1),
        interpreter: "none",
        autorestart: true,
      };
      if (svc.logged) {
        mkdirSync(logDir(dir, svc.name), { recursive: true });
        app.out_file = join(logDir(dir, svc.name), "out.log");
        app.error_file = join(dir, `${svc.name}.err`);
      }
      return app;
    });
    writeFileSync(eco(dir), `module.exports = ${JSON.stringify({ apps }, null, 1)};\n`);
  },
  command: (dir) => ({ argv: [bin("pm2-runtime"), "start", eco(dir)], env: home(dir) }),
  stopSignal: "SIGTERM",
  statusCommand: (dir, name) => ({ argv: [bin("pm2"), "describe", name], env: home(dir) }),
  // pm2 rotates only with its pm2-logrotate module: one file here.
  logReader: (dir, name, expected, width) => new DirLogReader(logDir(dir, name), expected, width),
};
