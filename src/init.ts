// `zinit init`: the composition root. It wires the daemon together and owns the process-wide
// concerns of a PID 1: never dying on an error, signals, the socket, and powering off at the end.
// Read top to bottom, runInit is the whole program.

import { mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { tooManyConnections, unfinishedOverBudget } from "./api/framing.ts";
import { isLoopbackIp } from "./api/http.ts";
import { createHttpHost } from "./api/http-host.ts";
import { Budget, DEFAULT_LIMITS } from "./api/limits.ts";
import { createMethodTable } from "./api/methods.ts";
import { probeRoutes } from "./api/probes.ts";
import { type SocketServer, serveUnix } from "./api/unix.ts";
import { readEnvironment } from "./config/environment.ts";
import { ServiceStore } from "./config/store.ts";
import type { LogLevel, PowerMode } from "./core/effects.ts";
import { errorText } from "./core/errors.ts";
import type { InitOptions } from "./defaults.ts";
import { attachRing, enableKmsg, log, setLogLevel } from "./log/logger.ts";
import { loadNative, nativeStatus } from "./log/native.ts";
import { ServiceLogs } from "./log/outputs.ts";
import { LogRing } from "./log/ring.ts";
import { Daemon } from "./shell/daemon.ts";
import { Shell } from "./shell/shell.ts";
import { finalSweep } from "./shell/sweep.ts";
import { hostSys } from "./sys/host.ts";
import { osError } from "./sys/libc.ts";
import { onSigpwr } from "./sys/native.ts";
import {
  disableCtrlAltDel,
  getpid,
  raisePriority,
  reboot,
  setChildSubreaper,
  sync,
} from "./sys/process.ts";
import { startIoPool } from "./sys/runtime.ts";
import { raiseFdLimit } from "./sys/spawn.ts";
import { type EarlySignal, takeOver } from "./sys/startup.ts";
import { BUILD_LINE } from "./version.ts";

/** The event loop's nice value: ahead of the services it supervises (they start at 0). */
const DAEMON_NICE = -10;

/**
 * The daemon. `notReexecuted` says why the runtime could not be re-executed with its thread-free
 * JSC options (sys/runtime.ts), or is null when it was.
 */
export async function runInit(
  opts: InitOptions,
  notReexecuted: string | null = null,
): Promise<never> {
  // An exception escaping to the top would end PID 1: the kernel panics, the container stops.
  process.on("uncaughtException", (err) => log.error(`uncaught exception: ${errorText(err)}`));
  process.on("unhandledRejection", (err) => log.error(`unhandled rejection: ${errorText(err)}`));
  setLogLevel(opts.debug ? "debug" : "info");
  if (notReexecuted !== null) log.debug(`runtime threads start on demand: ${notReexecuted}`);
  // Before any service: once a pids limit is full, the runtime could not start its pool.
  await startIoPool();

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
  // Without CAP_SYS_NICE this fails and zinit simply competes with its services as equals.
  const niceErrno = raisePriority(DAEMON_NICE);
  if (niceErrno !== 0) log.debug(`staying at nice 0: ${osError(niceErrno)}`);
  const fdErrno = raiseFdLimit();
  if (fdErrno !== 0) log.warn(`could not raise RLIMIT_NOFILE: ${osError(fdErrno)}`);

  const configDir = resolve(opts.configDir);
  const socketPath = resolve(opts.socket);
  const dirProblem = prepareConfigDir(configDir, isPid1);
  if (dirProblem !== null) {
    log.error(dirProblem);
    process.exit(1);
  }

  // One cap on unfinished request frames, and one on connections, for every listener of this
  // daemon; each says in the log when it refuses (once per 30 s: a flood is not logged per try).
  const limit = { ...DEFAULT_LIMITS, ...opts.limits };
  const budget = new Budget(
    limit.maxUnfinished,
    atMostEvery(30_000, () =>
      log.warn(`API: ${unfinishedOverBudget(limit.maxUnfinished)} (--max-unfinished); refusing`),
    ),
  );
  const connections = new Budget(
    limit.maxConnections,
    atMostEvery(30_000, () =>
      log.warn(`API: ${tooManyConnections(limit.maxConnections)}; refusing new ones`),
    ),
  );
  const sys = hostSys();
  const say = (level: LogLevel, message: string) => log[level](message);
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
    report: say,
  });
  let unix: SocketServer | null = null;

  const shell = new Shell({
    sys,
    logs,
    baseEnv: serviceEnv(),
    etcEnv: readEnvironment(undefined, (message) => log.error(message)),
    canPower,
    say,
    // Beside the control socket, so it is as private as the socket and unique to this daemon.
    notifyDir: `${socketPath}.notify`,
    // Let the shutdown request's reply reach its client before the daemon goes away.
    onPower: (mode, exitCode) => setTimeout(() => void powerDown(mode, exitCode), 20),
  });
  // Every skipped file and every unknown key is logged by the store, at start-up and at monitor.
  const files = new ServiceStore(configDir, { report: (level, message) => log[level](message) });
  const daemon = new Daemon({
    files,
    shell,
    sys,
    logs,
    powerMode: (reboot) => (canPower ? (reboot ? "reboot" : "poweroff") : "exit"),
  });
  const token = readToken(opts);
  const http = createHttpHost(() => table, {
    onStart: (address) => log.info(`HTTP/RPC server listening on ${address}`),
    limits: opts.limits,
    access: { corsOrigins: opts.corsOrigins, allowHosts: opts.allowHosts, token },
    openRoutes: probeRoutes(daemon),
    connections,
  });
  const table = createMethodTable(daemon, { files, http });

  async function powerDown(mode: PowerMode, exitCode: number): Promise<void> {
    // Log followers hear it is a normal end before their connections close.
    logs.finish();
    await http.close();
    // Processes outside any service (and the stubborn ones) still get a chance to exit cleanly.
    await finalSweep({ sys, isPid1, say, onReap: (listener) => shell.onReap(listener) });
    shell.close();
    if (mode === "exit") {
      sync();
      unix?.close();
      compat?.close();
      rmSync(socketPath, { force: true });
      log.info(`all services stopped; exiting${exitCode === 0 ? "" : ` with code ${exitCode}`}`);
      process.exit(exitCode);
    }
    sync();
    log.info(mode === "reboot" ? "rebooting" : "powering off");
    const errno = reboot(mode);
    log.error(`reboot(2) failed: ${osError(errno)}; staying up`);
  }

  // The socket exists before any service starts, so a failure to bind orphans nothing.
  try {
    unix = await serveUnix(socketPath, table, daemon, {
      mode: opts.socketMode,
      limits: opts.limits,
      budget,
      connections,
    });
  } catch (err) {
    log.error(`cannot listen on ${socketPath}: ${errorText(err)}`);
    process.exit(1);
  }

  // Upstream's clients look for /tmp/zinit.sock when given no -s; a live socket there is kept.
  let compat: SocketServer | null = null;
  if (opts.compatSocket) {
    try {
      compat = await serveUnix(opts.compatSocket, table, daemon, {
        mode: opts.socketMode,
        limits: opts.limits,
        budget,
        connections,
      });
    } catch (err) {
      log.warn(`not also listening on ${opts.compatSocket}: ${errorText(err)}`);
    }
  }

  if (opts.http) {
    try {
      const bound = await http.start(opts.http, { boot: true });
      if (!isLoopbackIp(bound.replace(/^\[|\]?:\d+$/g, "")) && token === null) {
        log.warn(`HTTP/RPC API on ${bound} is reachable from other hosts and has no token`);
      }
    } catch (err) {
      log.error(`cannot serve HTTP on ${opts.http}: ${errorText(err)}`);
    }
  }

  shell.start();
  installSignals(daemon, opts.container, isPid1);

  let loaded: ReturnType<typeof files.loadAll>;
  try {
    loaded = files.loadAll();
  } catch (err) {
    log.error(`cannot read config directory '${configDir}': ${errorText(err)}`);
    loaded = { services: new Map(), files: new Map(), errors: [], warnings: [] };
  }
  log.info(
    `${BUILD_LINE}: loaded ${loaded.services.size} service(s) from ${configDir}; socket ${socketPath}`,
  );
  // A stop signal during start-up has begun the shutdown already: nothing is to be started.
  if (!shell.core.shuttingDown) shell.command((now) => shell.core.monitorAll(loaded.services, now));
  // After the spawns, before their first output is read (until then the JavaScript paths, which
  // give the same lines, would do): compiling costs some 20 ms that start-up need not wait for.
  if (!loadNative()) log.debug(`log lines are cut in JavaScript: ${nativeStatus()}`);
  // Loading and spawning leave parse trees and environments behind; return them before idling.
  Bun.gc(true);

  // The socket server keeps the event loop alive; this promise never settles.
  return new Promise<never>(() => {});
}

/**
 * A missing config directory is most often a typo (`-c /etc/zinti`): refused, unless zinit is
 * PID 1, where refusing would panic the kernel; then it is made, and said loudly. Null if fine.
 */
function prepareConfigDir(dir: string, isPid1: boolean): string | null {
  let stat: ReturnType<typeof statSync> | undefined;
  try {
    stat = statSync(dir);
  } catch {
    stat = undefined;
  }
  if (stat && !stat.isDirectory()) return `config directory '${dir}' is not a directory`;
  if (stat) return null;
  if (!isPid1) {
    return `config directory '${dir}' does not exist (create it, or name the right one with -c)`;
  }
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    return `failed to create config directory '${dir}': ${errorText(err)}`;
  }
  log.warn(
    `config directory '${dir}' did not exist: created it empty, so no service runs (is -c right?)`,
  );
  return null;
}

/** zinit's environment as services inherit it: the API token is not theirs to see. */
function serviceEnv(): Record<string, string> {
  const env = { ...(process.env as Record<string, string>) };
  delete env.ZINIT_TOKEN;
  return env;
}

/** `--token-file` (its first line), else `$ZINIT_TOKEN`; a file that cannot be read is fatal. */
function readToken(opts: InitOptions): string | null {
  if (opts.tokenFile !== null) {
    try {
      const token = readFileSync(opts.tokenFile, "utf8").split("\n")[0]?.trim() ?? "";
      if (token === "") throw new Error("the file is empty");
      return token;
    } catch (err) {
      log.error(`cannot read token file '${opts.tokenFile}': ${errorText(err)}`);
      process.exit(1);
    }
  }
  const fromEnv = process.env.ZINIT_TOKEN?.trim();
  return fromEnv ? fromEnv : null;
}

/**
 * The daemon's signal handlers, taking over from the start-up catchers (sys/early-signals.ts);
 * a signal that arrived during start-up is acted on now.
 */
function installSignals(daemon: Daemon, container: boolean, isPid1: boolean): void {
  const request = (signal: string, reboot: boolean) => () => {
    try {
      log.info(`received ${signal}`);
      daemon.shutdown(reboot);
    } catch (err) {
      log.warn(`${signal} ignored: ${errorText(err)}`);
    }
  };
  // LXC halts a container with SIGPWR, which only reaches us through a native hook (sys/native.ts).
  const power = onSigpwr(request("SIGPWR", false));
  if (!power.ok) log.warn(`SIGPWR cannot be handled here: ${power.error}`);
  const handlers: Partial<Record<EarlySignal, () => void>> =
    container || !isPid1
      ? {
          SIGTERM: request("SIGTERM", false),
          SIGINT: request("SIGINT", false),
          SIGHUP: request("SIGHUP", false),
          // logrotate's signal. The PID 1 of a machine keeps SIGUSR1 as "power off" (below);
          // there, `zinit log --reopen` (system_reopenLogs) does this.
          SIGUSR1: () => {
            const paths = daemon.reopenLogs();
            log.info(`received SIGUSR1: reopened ${paths.length} log file(s)`);
          },
        }
      : {
          // PID 1 of a machine: ctrl-alt-del (SIGINT) and SIGTERM reboot, as busybox init does;
          // SIGPWR, SIGUSR1 and SIGUSR2 power off. SIGHUP is logged and ignored, not the end of PID 1.
          SIGINT: request("SIGINT", true),
          SIGTERM: request("SIGTERM", true),
          SIGUSR1: request("SIGUSR1", false),
          SIGUSR2: request("SIGUSR2", false),
          SIGHUP: () => log.info("received SIGHUP (ignored)"),
        };
  for (const sig of takeOver(handlers)) {
    log.info(`${sig} arrived during start-up`);
    handlers[sig]?.();
  }
}

/** `fn`, called at most once per `ms` however often the result is. */
function atMostEvery(ms: number, fn: () => void): () => void {
  let last = Number.NEGATIVE_INFINITY;
  return () => {
    const now = performance.now();
    if (now - last < ms) return;
    last = now;
    fn();
  };
}
