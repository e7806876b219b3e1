import type { ServiceConfig } from "../../src/core/types.ts";

/**
 * A parsed service with upstream's default for every field a YAML file may leave out, running
 * `sleep 100` unless `over` says otherwise. The config tests expect exactly these defaults, so a
 * fixture built here is what a minimal file would give.
 */
export function serviceConfig(over: Partial<ServiceConfig> = {}): ServiceConfig {
  return {
    exec: "sleep 100",
    argv: ["sleep", "100"],
    test: "",
    testArgv: [],
    oneshot: false,
    shutdownTimeout: 10,
    after: [],
    stopSignal: "SIGTERM",
    log: "ring",
    env: {},
    dir: "",
    ...over,
  };
}
