// supervisord (Python): one process, one ini file, supervisorctl over its unix socket.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DirLogReader } from "../lib/logs.ts";
import { probe, which } from "./common.ts";
import type { Peer } from "./types.ts";

const conf = (dir: string) => join(dir, "supervisord.conf");
const logDir = (dir: string, name: string) => join(dir, "logs", name);

export const supervisord: Peer = {
  name: "supervisord",
  detect() {
    if (!which("supervisord") || !which("supervisorctl"))
      return { ok: false, reason: "supervisord not on PATH" };
    return { ok: true, version: probe(["supervisord", "--version"]) ?? "unknown" };
  },
  maxServices: Number.POSITIVE_INFINITY,
  dependencies: false,
  supervises: true,
  restartDelayNote:
    "not settable (restarts from its 1 s event loop tick; a run shorter than startsecs, 1 s, is a failed start: backed off, FATAL after startretries, 3)",
  write(dir, services) {
    mkdirSync(join(dir, "childlogs"));
    const lines = [
      "[supervisord]",
      "nodaemon=true",
      `logfile=${join(dir, "supervisord.log")}`,
      `pidfile=${join(dir, "supervisord.pid")}`,
      `childlogdir=${join(dir, "childlogs")}`,
      // Three fds per program; the default 1024 refuses to start 1000 programs.
      "minfds=8192",
      "minprocs=4096",
      "[unix_http_server]",
      `file=${join(dir, "supervisor.sock")}`,
      "[supervisorctl]",
      `serverurl=unix://${join(dir, "supervisor.sock")}`,
      "[rpcinterface:supervisor]",
      "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
    ];
    for (const svc of services) {
      lines.push(`[program:${svc.name}]`, `command=${svc.argv.join(" ")}`, "autorestart=true");
      if (svc.logged) {
        mkdirSync(logDir(dir, svc.name), { recursive: true });
        lines.push(
          `stdout_logfile=${join(logDir(dir, svc.name), "out.log")}`,
          // Rotated at 10 MB, 50 backups kept: room for the whole payload.
          "stdout_logfile_maxbytes=10000000",
          "stdout_logfile_backups=50",
        );
      }
    }
    writeFileSync(conf(dir), `${lines.join("\n")}\n`);
  },
  command: (dir) => ({ argv: ["supervisord", "-n", "-c", conf(dir)] }),
  stopSignal: "SIGTERM",
  statusCommand: (dir, name) => ({ argv: ["supervisorctl", "-c", conf(dir), "status", name] }),
  logReader: (dir, name, expected, width) => new DirLogReader(logDir(dir, name), expected, width),
};
