// `zinit init`: the composition root. It wires the daemon together and owns the process-wide
// concerns of a PID 1: never dying on an error, signals, the socket, and powering off at the end.
// Read top to bottom, runInit is the whole program.

import { mkdirSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { createHttpHost } from "./api/http-host.ts";
import { createMethodTable } from "./api/methods.ts";
import { type SocketServer, serveUnix } from "./api/unix.ts";
import { readEnvironment } from "./config/environment.ts";
import { loadDir } from "./config/load.ts";
import type { PowerMode } from "./core/effects.ts";
import { errorText } from "./core/errors.ts";
import type { InitOptions } from "./defaults.ts";
import { attachRing, enableKmsg, log, setLogLevel } from "./log/logger.ts";
import { loadNative, nativeStatus } from "./log/native.ts";
import { ServiceLogs } from "./log/outputs.ts";
import { LogRing } from "./log/ring.ts";
import { Daemon } from "./shell/daemon.ts";
import { Shell } from "./shell/shell.ts";
import { hostSys } from "./sys/host.ts";
import { osError } from "./sys/libc.ts";
import { listProcs } from "./sys/proc.ts";
import { disableCtrlAltDel, getpid, kill, reboot, setChildSubreaper, sync } from "./sys/process.ts";
import { onSigpwr } from "./sys/sigpwr.ts";
import { raiseFdLimit } from "./sys/spawn.ts";

/** How long stray processes get between SIGTERM and SIGKILL in the final sweep. */
const FINAL_SWEEP_MS = 2_000;

export async function runInit(opts: InitOptions): Promise<never> {
  // An exception escaping to the top would end PID 1: the kernel panics, the container stops.
  process.on("uncaughtException", (err) => log.error(`uncaught exception: ${errorText(err)}`));
  process.on("unhandledRejection", (err) => log.error(`unhandled rejection: ${errorText(err)}`));
  setLogLevel(opts.debug ? "debug" : "info");

  const isPid1 = getpid() === 1;
  const canPower = isPid1 && !opts.container;
  if (!isPid1) {
    const errno = setChildSubreaper();
    if (errno !== 0) log.warn(`could not become a child subreaper: ${osError(errno)}`);
  }
  if (canPower) {
    enableKmsg();
    // Inside a PID namespace this fails with EINVAL, which is fine: no keyboard reaches us there.
    disableCtrlAltDel();
  }
  const fdErrno = raiseFdLimit();
  if (fdErrno !== 0) log.warn(`could not raise RLIMIT_NOFILE: ${osError(fdErrno)}`);

  const configDir = resolve(opts.configDir);
  const socketPath = resolve(opts.socket);
  try {
    mkdirSync(configDir, { recursive: true });
  } catch (err) {
    log.error(`failed to create config directory '${configDir}': ${errorText(err)}`);
    process.exit(1);
  }

  const sys = hostSys();
  const ring = new LogRing({
    lines: opts.buffer,
    bytes: opts.bufferBytes,
    clock: () => sys.wallClock(),
  });
  attachRing(ring);
  const logs = new ServiceLogs({
    ring,
    wallClock: () => sys.wallClock(),
    now: () => sys.now(),
    logDir: opts.logDir === null ? null : resolve(opts.logDir),
    dirMaxBytes: opts.logMaxBytes,
    dirKeep: opts.logKeep,
    stdoutFormat: opts.stdoutFormat,
    report: (level, message) => log[level](message),
  });
  let unix: SocketServer | null = null;

  const shell = new Shell({
    sys,
    logs,
    baseEnv: { ...(process.env as Record<string, string>) },
    etcEnv: readEnvironment(undefined, (message) => log.error(message)),
    canPower,
    say: (level, message) => log[level](message),
    // Let the shutdown request's reply reach its client before the daemon goes away.
    onPower: (mode, exitCode) => setTimeout(() => void powerDown(mode, exitCode), 20),
  });
  const daemon = new Daemon({
    configDir,
    shell,
    sys,
    logs,
    powerMode: (reboot) => (canPower ? (reboot ? "reboot" : "poweroff") : "exit"),
  });
  const http = createHttpHost(
    () => table,
    (address) => log.info(`HTTP/RPC server listening on ${address}`),
  );
  const table = createMethodTable(daemon, { configDir, http });

  async function powerDown(mode: PowerMode, exitCode: number): Promise<void> {
    // Log followers hear it is a normal end before their connections close.
    logs.finish();
    await http.close();
    if (mode === "exit") {
      sync();
      unix?.close();
      rmSync(socketPath, { force: true });
      log.info(`all services stopped; exiting${exitCode === 0 ? "" : ` with code ${exitCode}`}`);
      process.exit(exitCode);
    }
    // Processes outside any service (and the stubborn ones) still get a chance to exit cleanly.
    kill(-1, 15);
    await waitForNoProcesses(FINAL_SWEEP_MS);
    kill(-1, 9);
    sync();
    log.info(mode === "reboot" ? "rebooting" : "powering off");
    const errno = reboot(mode);
    log.error(`reboot(2) failed: ${osError(errno)}; staying up`);
  }

  // The socket exists before any service starts, so a failure to bind orphans nothing.
  try {
    unix = await serveUnix(socketPath, table, daemon, { mode: opts.socketMode });
  } catch (err) {
    log.error(`cannot listen on ${socketPath}: ${errorText(err)}`);
    process.exit(1);
  }

  if (opts.http) {
    try {
      await http.start(opts.http);
    } catch (err) {
      log.error(`cannot serve HTTP on ${opts.http}: ${errorText(err)}`);
    }
  }

  shell.start();
  installSignals(daemon, opts.container, isPid1);

  let loaded: ReturnType<typeof loadDir>;
  try {
    loaded = loadDir(configDir);
  } catch (err) {
    log.error(`cannot read config directory '${configDir}': ${errorText(err)}`);
    loaded = { services: new Map(), errors: [] };
  }
  for (const error of loaded.errors) log.error(`skipping service file: ${error}`);
  log.info(`loaded ${loaded.services.size} service(s) from ${configDir}; socket ${socketPath}`);
  shell.command((now) => shell.core.monitorAll(loaded.services, now));
  // After the spawns, before their first output is read (until then the JavaScript paths, which
  // give the same lines, would do): compiling costs some 20 ms that start-up need not wait for.
  if (!loadNative()) log.debug(`log lines are cut in JavaScript: ${nativeStatus()}`);
  // Loading and spawning leave parse trees and environments behind; return them before idling.
  Bun.gc(true);

  // The socket server keeps the event loop alive; this promise never settles.
  return new Promise<never>(() => {});
}

function installSignals(daemon: Daemon, container: boolean, isPid1: boolean): void {
  const request = (signal: string, reboot: boolean) => () => {
    try {
      log.info(`received ${signal}`);
      daemon.shutdown(reboot);
    } catch (err) {
      log.warn(`${signal} ignored: ${errorText(err)}`);
    }
  };
  // LXC halts a container with SIGPWR, which only reaches us through a native hook (sys/sigpwr.ts).
  const power = onSigpwr(request("SIGPWR", false));
  if (!power.ok) log.warn(`SIGPWR cannot be handled here: ${power.error}`);
  if (container || !isPid1) {
    for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const)
      process.on(sig, request(sig, false));
    // logrotate's signal. The PID 1 of a machine keeps SIGUSR1 as "power off" (below); there,
    // `zinit log --reopen` (system_reopenLogs) does this.
    process.on("SIGUSR1", () => {
      const paths = daemon.reopenLogs();
      log.info(`received SIGUSR1: reopened ${paths.length} log file(s)`);
    });
    return;
  }
  // PID 1 of a machine: ctrl-alt-del (SIGINT) and SIGTERM reboot, as busybox init does;
  // SIGPWR, SIGUSR1 and SIGUSR2 power off. SIGHUP is logged and ignored rather than ending PID 1.
  process.on("SIGINT", request("SIGINT", true));
  process.on("SIGTERM", request("SIGTERM", true));
  process.on("SIGUSR1", request("SIGUSR1", false));
  process.on("SIGUSR2", request("SIGUSR2", false));
  process.on("SIGHUP", () => log.info("received SIGHUP (ignored)"));
}

async function waitForNoProcesses(ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (listProcs().every((p) => p.pid === process.pid || p.state === "Z")) return;
    await Bun.sleep(50);
  }
}
