import {
  DEFAULT_LOG_KEEP,
  DEFAULT_LOG_MAX_BYTES,
  DEFAULT_MAX_RESTARTS,
  DEFAULT_RESTART_DELAY_MAX_MS,
  DEFAULT_RESTART_DELAY_MS,
  DEFAULT_RESTART_WINDOW_MS,
  DEFAULT_STABILITY_PERIOD_MS,
} from "../../src/core/policy.ts";
import type { ServiceConfig } from "../../src/core/types.ts";

/**
 * A parsed service with the default for every field a YAML file may leave out, running
 * `sleep 100` unless `over` says otherwise. The config tests expect exactly these defaults, so a
 * fixture built here is what a minimal file would give (with `dir` not yet resolved: "").
 */
export function serviceConfig(over: Partial<ServiceConfig> = {}): ServiceConfig {
  const oneshot = over.oneshot ?? false;
  return {
    exec: "sleep 100",
    argv: ["sleep", "100"],
    test: "",
    testArgv: [],
    oneshot,
    shutdownTimeout: 10,
    after: [],
    stopSignal: 15,
    log: "ring",
    env: {},
    dir: "",
    restart: oneshot ? "never" : "always",
    successExitCodes: [0],
    restartDelayMs: DEFAULT_RESTART_DELAY_MS,
    restartDelayMaxMs: DEFAULT_RESTART_DELAY_MAX_MS,
    stabilityPeriodMs: DEFAULT_STABILITY_PERIOD_MS,
    maxRestarts: DEFAULT_MAX_RESTARTS,
    restartWindowMs: DEFAULT_RESTART_WINDOW_MS,
    critical: false,
    criticalAction: "reboot",
    exitOnSuccess: false,
    startTimeoutMs: null,
    stop: null,
    ready: null,
    live: null,
    notify: null,
    watchdogMs: null,
    logFile: { path: null, maxBytes: DEFAULT_LOG_MAX_BYTES, keep: DEFAULT_LOG_KEEP },
    ...over,
  };
}
