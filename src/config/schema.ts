// The service file schema: upstream 0.2's keys with upstream's defaults, and the optional keys
// beyond them, validated once at load time so the supervisor only ever sees well-formed configs.
// A file without the new keys means exactly what it means to upstream 0.2. Every failure is one
// line, `file:line:col: field: message`, because it ends up in zinit's log, in RPC errors and in
// `zinit check`. The same valibot schema is turned into schema/service.schema.json (build/schema.ts).

import * as v from "valibot";
import {
  DEFAULT_LIVE_FAILURE_THRESHOLD,
  DEFAULT_LIVE_PERIOD_MS,
  DEFAULT_LIVE_TIMEOUT_MS,
  DEFAULT_LOG_KEEP,
  DEFAULT_LOG_MAX_BYTES,
  DEFAULT_MAX_RESTARTS,
  DEFAULT_RESTART_DELAY_MAX_MS,
  DEFAULT_RESTART_DELAY_MS,
  DEFAULT_RESTART_WINDOW_MS,
  DEFAULT_STABILITY_PERIOD_MS,
  MAX_TIMER_MS,
  TEST_TIMEOUT_MS,
} from "../core/policy.ts";
import type {
  Command,
  LivenessProbe,
  LogMode,
  Notify,
  Probe,
  ProbeCheck,
  ServiceConfig,
} from "../core/types.ts";
import { isRecord } from "../values.ts";
import {
  COMMAND_JSON,
  checkedTransform,
  describe,
  field,
  Invalid,
  ifThen,
  int,
  intJson,
  type JsonSchema,
  MAX_PATTERN_LENGTH,
  mapOf,
  parseCommand,
  parseHttpTarget,
  parseInteger,
  parsePattern,
  parseServiceRef,
  parseSize,
  parseStatusRange,
  parseStopSignal,
  parseTcpTarget,
  parseText,
  requiredCommand,
  SERVICE_NAME_JSON,
  SIGNAL_JSON,
  STATUS_JSON,
  sizeJson,
  TEXT_JSON,
  text,
  withDefault,
} from "./fields.ts";
import { type KeyAliases, type KeyTree, unknownKeys } from "./keys.ts";
import { type PathKey, readYaml, YamlError, type YamlFile } from "./yaml.ts";

export class ConfigFileError extends Error {
  constructor(
    message: string,
    /** The service file does not exist (as opposed to existing and being invalid). */
    readonly notFound = false,
  ) {
    super(message);
    this.name = "ConfigFileError";
  }
}

/** A valid service and what is odd about it (unknown keys), one line each. */
export interface ParsedService {
  config: ServiceConfig;
  warnings: string[];
}

const DEFAULT_SHUTDOWN_TIMEOUT = 10;
/** Longer timeouts overflow the 32-bit millisecond timers that enforce them (they'd fire at once). */
export const MAX_SHUTDOWN_TIMEOUT = Math.floor(MAX_TIMER_MS / 1000);
/** `log_max_size`: smaller files would rotate every few lines. */
const MIN_LOG_BYTES = 4096;
/** `log_keep`: rotation renames every kept file, so their number is bounded. */
const MAX_LOG_KEEP = 1000;

const ms = (min: number) => ({ min, max: MAX_TIMER_MS, unit: "ms" });

/** Documentation of a key, carried into the JSON Schema. */
const key = <S extends v.GenericSchema>(description: string, schema: S) =>
  v.pipe(schema, v.description(description));

/**
 * A key whose default is applied when the whole file is known, because whether it was written
 * matters (`log_keep` without `log: file` is a mistake): absent stays undefined.
 */
const presentOnly = <S extends v.GenericSchema>(schema: S, fallback: unknown) =>
  v.pipe(v.optional(v.nullable(schema)), v.metadata({ default: fallback }));

// ---- upstream 0.2 keys ---------------------------------------------------------------------------

const after = field(
  { anyOf: [{ type: "array", items: SERVICE_NAME_JSON }, { const: "" }] },
  (raw): string[] | Invalid => {
    if (raw === "") return [];
    if (!Array.isArray(raw))
      return new Invalid(`expected a list of service names, got ${describe(raw)}`);
    const names: string[] = [];
    for (const [i, item] of raw.entries()) {
      const name = parseServiceRef(item);
      if (name instanceof Invalid) return new Invalid(name.message, [{ key: i }]);
      names.push(name);
    }
    return names;
  },
);

const SIGNAL_ENTRIES = {
  stop: key(
    "The stop signal: a SIGxxx name, case-insensitive.",
    withDefault(field(SIGNAL_JSON, parseStopSignal), "SIGTERM"),
  ),
};

// The docs say `log: null` where the code wants `none` (upstream bug #4): both mean no output.
const LOG_MODES = ["ring", "stdout", "none", "null", "file"] as const;
const log = v.pipe(
  v.picklist(
    LOG_MODES,
    (issue) => `expected one of ring, stdout, none, file, got ${describe(issue.input)}`,
  ),
  v.transform((mode): LogMode => (mode === "null" ? "none" : mode)),
);

const env = field(
  {
    type: "object",
    additionalProperties: { anyOf: [TEXT_JSON, { type: "null" }] },
    propertyNames: { pattern: "^[^=\\u0000]+$" },
  },
  (raw): Record<string, string> | Invalid => {
    if (!isRecord(raw)) return new Invalid(`expected a map of NAME: value, got ${describe(raw)}`);
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(raw)) {
      const badName =
        name === ""
          ? "variable name must not be empty"
          : name.includes("=")
            ? "variable name must not contain '='"
            : name.includes("\0")
              ? "variable name must not contain a NUL byte"
              : null;
      if (badName) return new Invalid(badName, [{ key: name, origin: "key" }]);
      const text = value === null ? "" : parseText(value);
      if (text instanceof Invalid) return new Invalid(text.message, [{ key: name }]);
      // defineProperty: a variable may be called `__proto__` and must stay an ordinary entry.
      Object.defineProperty(out, name, {
        value: text,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  },
);

const bool = v.boolean((issue) => `expected true or false, got ${describe(issue.input)}`);

// ---- probes (health.ready, health.live) ------------------------------------------------------------

const CHECK_KEYS = ["exec", "tcp", "http", "log"] as const;

const PROBE_CHECKS = {
  exec: key(
    "A command, split like exec: exit code 0 passes.",
    v.optional(v.nullable(field(COMMAND_JSON, parseCommand))),
  ),
  tcp: key(
    "host:port ([v6]:port for IPv6) that must accept a connection; host is an IP address or localhost.",
    v.optional(
      v.nullable(
        field(
          { type: "string", pattern: "^(?:\\[[0-9A-Fa-f:.]+\\]|[^:\\[\\]\\s]+):[0-9]{1,5}$" },
          parseTcpTarget,
        ),
      ),
    ),
  ),
  http: key(
    "An http:// URL (host: an IP address or localhost) whose GET must answer with a status in `status`.",
    v.optional(v.nullable(field({ type: "string", pattern: "^http://" }, parseHttpTarget))),
  ),
  log: key(
    `A regular expression (at most ${MAX_PATTERN_LENGTH} characters) that a line of the service's own output must match.`,
    v.optional(
      v.nullable(
        field({ type: "string", minLength: 1, maxLength: MAX_PATTERN_LENGTH }, parsePattern),
      ),
    ),
  ),
  status: key(
    'With http: the passing status, 200, or a range, "200-299" (default 200-399).',
    v.optional(v.nullable(field(STATUS_JSON, parseStatusRange))),
  ),
};

const READY_ENTRIES = {
  ...PROBE_CHECKS,
  timeout_ms: key(
    "An attempt still unanswered after this long fails (its process group is killed).",
    withDefault(int(ms(1)), TEST_TIMEOUT_MS),
  ),
  interval_ms: key(
    "Between failed attempts; absent: the backoff of test (50 ms doubling up to 2 s).",
    v.optional(v.nullable(int(ms(1)))),
  ),
};

const LIVE_ENTRIES = {
  ...PROBE_CHECKS,
  timeout_ms: key(
    "A check still unanswered after this long fails (its process group is killed).",
    withDefault(int(ms(1)), DEFAULT_LIVE_TIMEOUT_MS),
  ),
  period_ms: key(
    "Between checks, once the service is Running.",
    withDefault(int(ms(1)), DEFAULT_LIVE_PERIOD_MS),
  ),
  failure_threshold: key(
    "This many failed checks in a row restart the service.",
    withDefault(int({ min: 1, max: MAX_TIMER_MS }), DEFAULT_LIVE_FAILURE_THRESHOLD),
  ),
};

const PROBE_JSON: JsonSchema = {
  oneOf: CHECK_KEYS.map((k) => ({ required: [k] })),
  allOf: [ifThen({ required: ["status"] }, { required: ["http"] })],
};

type ProbeFields = {
  exec?: Command | null;
  tcp?: { host: string; port: number } | null;
  http?: string | null;
  log?: string | null;
  status?: { min: number; max: number } | null;
  timeout_ms: number;
};

/** The one check a probe map names: exactly one of exec, tcp, http, log. */
function probeCheck(p: ProbeFields): ProbeCheck | Invalid {
  const given = CHECK_KEYS.filter(
    (k) => p[k] !== undefined && p[k] !== null && !(k === "exec" && p.exec?.line === ""),
  );
  const [first, second] = given;
  if (first === undefined) return new Invalid("expected one of exec, tcp, http or log");
  if (second !== undefined) {
    return new Invalid(`use only one of exec, tcp, http, log (${first} is given too)`, [
      { key: second, origin: "key" },
    ]);
  }
  if (p.status && first !== "http")
    return new Invalid("only used with http", [{ key: "status", origin: "key" }]);
  switch (first) {
    case "exec":
      return { kind: "exec", command: p.exec as Command };
    case "tcp":
      return { kind: "tcp", ...(p.tcp as { host: string; port: number }) };
    case "http":
      return { kind: "http", url: p.http as string, status: p.status ?? { min: 200, max: 399 } };
    case "log":
      return { kind: "log", pattern: p.log as string };
  }
}

const readyProbe = v.pipe(
  mapOf(
    v.pipe(v.looseObject(READY_ENTRIES), v.metadata(PROBE_JSON)),
    "a probe map like {tcp: 127.0.0.1:80}",
  ),
  checkedTransform((p: ProbeFields & { interval_ms?: number | null }): Probe | Invalid => {
    const check = probeCheck(p);
    if (check instanceof Invalid) return check;
    return { check, intervalMs: p.interval_ms ?? null, timeoutMs: p.timeout_ms };
  }),
);

const liveProbe = v.pipe(
  mapOf(
    v.pipe(v.looseObject(LIVE_ENTRIES), v.metadata(PROBE_JSON)),
    "a probe map like {tcp: 127.0.0.1:80}",
  ),
  checkedTransform(
    (
      p: ProbeFields & { period_ms: number; failure_threshold: number },
    ): LivenessProbe | Invalid => {
      const check = probeCheck(p);
      if (check instanceof Invalid) return check;
      return {
        check,
        intervalMs: p.period_ms,
        timeoutMs: p.timeout_ms,
        failureThreshold: p.failure_threshold,
      };
    },
  ),
);

const HEALTH_ENTRIES = {
  ready: key(
    "Readiness probe: Spawned becomes Running once it passes (instead of test).",
    v.optional(v.nullable(readyProbe)),
  ),
  live: key(
    "Liveness probe, checked once Running: failure_threshold failures in a row restart the service.",
    v.optional(v.nullable(liveProbe)),
  ),
};

// ---- notify --------------------------------------------------------------------------------------

const notify = field(
  {
    anyOf: [
      { const: "systemd" },
      { type: "string", pattern: "^fd:(?:[3-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])$" },
    ],
  },
  (raw): Notify | Invalid => {
    if (raw === "systemd") return { kind: "systemd" };
    const m = typeof raw === "string" ? /^fd:([0-9]{1,3})$/.exec(raw) : null;
    const fd = Number(m?.[1]);
    if (m && fd >= 3 && fd <= 255) return { kind: "fd", fd };
    return new Invalid(`expected systemd or fd:N with N from 3 to 255, got ${describe(raw)}`);
  },
);

// ---- the file ------------------------------------------------------------------------------------

// Fields are checked in this order, so the first error reported is predictable: upstream's keys
// first. A key present but empty (null) means its default, except `log`, where null is the
// documented spelling of none. Unknown keys are ignored, as upstream does (and reported: keys.ts).
const SERVICE_ENTRIES = {
  // No optional() around it to carry a description: it goes with its JSON Schema.
  exec: field(
    {
      ...COMMAND_JSON,
      description:
        "Required. The command line, split into words like a POSIX shell does (no shell runs, no expansion).",
    },
    requiredCommand("exec directive"),
  ),
  test: key(
    "Health check run until it exits 0: Spawned becomes Running then. Ignored for oneshots.",
    withDefault(field(TEXT_JSON, parseCommand), ""),
  ),
  oneshot: key(
    "Run once and never restart; dependents wait for it to exit 0.",
    withDefault(bool, false),
  ),
  shutdown_timeout: key(
    "Seconds between the stop signal and SIGKILL.",
    withDefault(
      int({ min: 0, max: MAX_SHUTDOWN_TIMEOUT, unit: "seconds" }),
      DEFAULT_SHUTDOWN_TIMEOUT,
    ),
  ),
  after: key(
    "Services that must be Running (or, for oneshots, have succeeded) before this one starts.",
    withDefault(after, () => []),
  ),
  signal: key(
    "Signals used to control the service.",
    withDefault(mapOf(v.looseObject(SIGNAL_ENTRIES), "a map like {stop: SIGTERM}"), () => ({})),
  ),
  log: key(
    "Where output goes: ring (the shared log ring), stdout (zinit's own), none (null and ~ also mean none), or file (log_file, and the ring).",
    v.optional(v.nullable(log, "none"), "ring"),
  ),
  env: key(
    "Environment variables, on top of zinit's own environment and /etc/environment.",
    withDefault(env, () => ({})),
  ),
  dir: key(
    "Working directory: empty means /, a relative path is relative to the config directory.",
    withDefault(text, ""),
  ),

  // ---- beyond upstream 0.2: lifecycle ----
  restart: key(
    "When a main process that ended is started again: always (default), on-failure (an exit code not in success_exit_codes, or a signal), never (default for oneshots).",
    v.optional(
      v.nullable(
        v.picklist(
          ["always", "on-failure", "never"],
          (issue) => `expected one of always, on-failure, never, got ${describe(issue.input)}`,
        ),
      ),
    ),
  ),
  success_exit_codes: key(
    "Exit codes that count as success (for restart: on-failure, critical and exit_on_success).",
    withDefault(
      field(
        { type: "array", minItems: 1, items: intJson({ min: 0, max: 255 }) },
        (raw): number[] | Invalid => {
          if (!Array.isArray(raw) || raw.length === 0) {
            const got = Array.isArray(raw) ? "an empty list" : describe(raw);
            return new Invalid(`expected a non-empty list of exit codes, got ${got}`);
          }
          const code = parseInteger({ min: 0, max: 255 });
          const codes: number[] = [];
          for (const [i, item] of raw.entries()) {
            const n = code(item);
            if (n instanceof Invalid) return new Invalid(n.message, [{ key: i }]);
            codes.push(n);
          }
          return codes;
        },
      ),
      () => [0],
    ),
  ),
  restart_delay_ms: key(
    "First delay of the restart backoff after a quick crash; it doubles per crash up to restart_delay_max_ms.",
    withDefault(int(ms(0)), DEFAULT_RESTART_DELAY_MS),
  ),
  restart_delay_max_ms: key(
    "Longest restart delay; at least restart_delay_ms.",
    presentOnly(int(ms(0)), DEFAULT_RESTART_DELAY_MAX_MS),
  ),
  stability_period_ms: key(
    "A run at least this long resets the backoff: the next restart is immediate.",
    withDefault(int(ms(0)), DEFAULT_STABILITY_PERIOD_MS),
  ),
  max_restarts: key(
    "Restarts allowed within restart_window_ms before the service is given up on; 0: no limit.",
    withDefault(int({ min: 0, max: MAX_TIMER_MS }), DEFAULT_MAX_RESTARTS),
  ),
  restart_window_ms: key(
    "The window max_restarts counts in.",
    withDefault(int(ms(1)), DEFAULT_RESTART_WINDOW_MS),
  ),
  start_timeout_ms: key(
    "Not Running within this long after a spawn: the run counts as failed (stopped, then restart applies).",
    v.optional(v.nullable(int(ms(1)))),
  ),
  critical: key(
    "Failing for good (not restarted any more) shuts zinit down: a container exits with the service's exit code, a machine reboots or powers off (critical_action).",
    withDefault(bool, false),
  ),
  critical_action: key(
    "What a critical failure does as the PID 1 of a machine.",
    withDefault(
      v.picklist(
        ["reboot", "poweroff"],
        (issue) => `expected reboot or poweroff, got ${describe(issue.input)}`,
      ),
      "reboot",
    ),
  ),
  exit_on_success: key(
    "A successful exit of this service stops everything and ends zinit with exit code 0.",
    withDefault(bool, false),
  ),
  stop: key(
    "Command run to stop the service its own way, before the stop signal (which follows when it ends).",
    withDefault(field(TEXT_JSON, parseCommand), ""),
  ),

  // ---- beyond upstream 0.2: readiness and health ----
  health: key(
    "Probes: ready (instead of test) and live (checked periodically once Running).",
    v.optional(v.nullable(mapOf(v.looseObject(HEALTH_ENTRIES), "a map like {ready: …, live: …}"))),
  ),
  notify: key(
    "The service says itself when it is ready: systemd (sd_notify on $NOTIFY_SOCKET) or fd:N (a newline on file descriptor N).",
    v.optional(v.nullable(notify)),
  ),
  watchdog_ms: key(
    "With notify: systemd, WATCHDOG=1 must arrive at least this often once Running, or the service is restarted.",
    v.optional(v.nullable(int(ms(1)))),
  ),

  // ---- beyond upstream 0.2: log files ----
  log_file: key(
    "With log: file, the file written; relative: to the config directory (default /var/log/zinit/NAME.log).",
    v.optional(v.nullable(text)),
  ),
  log_max_size: key(
    "With log: file, rotate before the file grows past this size: bytes, or with a K, M or G suffix (powers of 1024).",
    presentOnly(field(sizeJson(MIN_LOG_BYTES), parseSize(MIN_LOG_BYTES)), DEFAULT_LOG_MAX_BYTES),
  ),
  log_keep: key(
    "With log: file, rotated files kept (NAME.log.1 … NAME.log.N).",
    presentOnly(int({ min: 0, max: MAX_LOG_KEEP }), DEFAULT_LOG_KEEP),
  ),
};

const present = (k: string) => ({ required: [k], properties: { [k]: { not: { type: "null" } } } });

/** What valibot cannot say about the keys together, said to JSON Schema. */
const SERVICE_JSON: JsonSchema = {
  title: "zinit service file",
  description:
    "One service of zinit (https://github.com/threefoldtech/zinit): NAME.yaml in the config directory. Unknown keys are ignored.",
  allOf: [
    ifThen(
      { properties: { oneshot: { const: true } }, required: ["oneshot"] },
      { properties: { restart: { not: { const: "always" } } } },
    ),
    ifThen(
      { properties: { health: { type: "object", ...present("ready") } }, required: ["health"] },
      { properties: { test: { enum: [null, ""] }, notify: { type: "null" } } },
    ),
    ifThen(present("watchdog_ms"), {
      properties: { notify: { const: "systemd" } },
      required: ["notify"],
    }),
    ifThen(
      { anyOf: ["log_file", "log_max_size", "log_keep"].map(present) },
      { properties: { log: { const: "file" } }, required: ["log"] },
    ),
  ],
};

// The only required key, so the only one a missing-key issue can be about.
const ServiceObject = v.pipe(
  v.looseObject(SERVICE_ENTRIES, () => "missing exec directive"),
  v.metadata(SERVICE_JSON),
);

type Fields = v.InferOutput<typeof ServiceObject>;

/** The keys together: what no single key can check, then the config the core consumes. */
function buildConfig(f: Fields): ServiceConfig | Invalid {
  const has = (k: keyof Fields) => f[k] !== undefined && f[k] !== null;
  const delayMax = f.restart_delay_max_ms ?? DEFAULT_RESTART_DELAY_MAX_MS;
  if (f.oneshot && f.restart === "always") {
    return new Invalid("'always' contradicts oneshot: true (use on-failure or never)", [
      { key: "restart" },
    ]);
  }
  if (delayMax < f.restart_delay_ms) {
    return has("restart_delay_max_ms")
      ? new Invalid(`must be at least restart_delay_ms (${f.restart_delay_ms}), got ${delayMax}`, [
          { key: "restart_delay_max_ms" },
        ])
      : new Invalid(
          `must be at most restart_delay_max_ms (${delayMax}, its default), got ${f.restart_delay_ms}`,
          [{ key: "restart_delay_ms" }],
        );
  }
  const ready = f.health?.ready ?? null;
  if (ready && f.test.line !== "") {
    return new Invalid("use either test or health.ready, not both", [
      { key: "health" },
      { key: "ready", origin: "key" },
    ]);
  }
  if (ready && f.notify) {
    return new Invalid("use either notify or health.ready, not both", [
      { key: "health" },
      { key: "ready", origin: "key" },
    ]);
  }
  if (has("watchdog_ms") && f.notify?.kind !== "systemd") {
    return new Invalid("only used with notify: systemd", [{ key: "watchdog_ms", origin: "key" }]);
  }
  for (const k of ["log_file", "log_max_size", "log_keep"] as const) {
    if (has(k) && f.log !== "file")
      return new Invalid("only used with log: file", [{ key: k, origin: "key" }]);
  }
  return {
    exec: f.exec.line,
    argv: f.exec.argv,
    test: f.test.line,
    testArgv: f.test.argv,
    oneshot: f.oneshot,
    shutdownTimeout: f.shutdown_timeout,
    after: f.after,
    stopSignal: f.signal.stop,
    log: f.log,
    env: f.env,
    dir: f.dir,
    restart: f.restart ?? (f.oneshot ? "never" : "always"),
    successExitCodes: f.success_exit_codes,
    restartDelayMs: f.restart_delay_ms,
    restartDelayMaxMs: delayMax,
    stabilityPeriodMs: f.stability_period_ms,
    maxRestarts: f.max_restarts,
    restartWindowMs: f.restart_window_ms,
    critical: f.critical,
    criticalAction: f.critical_action,
    exitOnSuccess: f.exit_on_success,
    startTimeoutMs: f.start_timeout_ms ?? null,
    stop: f.stop.line === "" ? null : f.stop,
    ready,
    live: f.health?.live ?? null,
    notify: f.notify ?? null,
    watchdogMs: f.watchdog_ms ?? null,
    logFile: {
      path: f.log_file ? f.log_file : null,
      maxBytes: f.log_max_size ?? DEFAULT_LOG_MAX_BYTES,
      keep: f.log_keep ?? DEFAULT_LOG_KEEP,
    },
  };
}

/** The whole service file, from a decoded document to the config the core consumes. */
export const ServiceFile = v.pipe(
  mapOf(ServiceObject, "a map of service settings"),
  checkedTransform(buildConfig),
);

/** Every key the schema knows, for the unknown-key warnings. */
const treeOf = (entries: object): Record<string, null> =>
  Object.fromEntries(Object.keys(entries).map((k) => [k, null]));
const KNOWN_KEYS: KeyTree = {
  ...treeOf(SERVICE_ENTRIES),
  signal: treeOf(SIGNAL_ENTRIES),
  health: { ready: treeOf(READY_ENTRIES), live: treeOf(LIVE_ENTRIES) },
};
/** Keys of one probe written in the other. */
const KEY_ALIASES: Record<string, KeyAliases> = {
  "health.ready": { period_ms: "interval_ms" },
  "health.live": { interval_ms: "period_ms" },
};

// ---- parsing -------------------------------------------------------------------------------------

/** Parses the text of a service file; `source` (its path) starts every error and warning. */
export function parseService(text: string, source: string): ParsedService {
  let file: YamlFile;
  try {
    file = readYaml(text, "text");
  } catch (err) {
    if (!(err instanceof YamlError)) throw err;
    throw new ConfigFileError(`${source}${err.position ? `:${err.position}` : ""}: ${err.message}`);
  }
  return validate(file.value, (path, origin) => `${source}:${file.position(path, origin)}`);
}

/** Validates an already-decoded service (the JSON content of `service_create`): no positions. */
export function validateServiceObject(obj: unknown, source: string): ParsedService {
  return validate(obj, () => source);
}

function validate(
  value: unknown,
  where: (path: PathKey[], origin: "key" | "value") => string,
): ParsedService {
  // An empty document is an empty map: what is missing then is `exec`.
  const result = v.safeParse(ServiceFile, value ?? {});
  if (!result.success) {
    const issue = result.issues[0];
    const path = (issue.path ?? []).map((item) => item.key as PathKey);
    const origin =
      (issue.path?.at(-1) as { origin?: "key" | "value" } | undefined)?.origin ?? "value";
    const name = formatPath(path);
    throw new ConfigFileError(`${where(path, origin)}: ${name ? `${name}: ` : ""}${issue.message}`);
  }
  const warnings = unknownKeys(value, KNOWN_KEYS, KEY_ALIASES).map(
    ({ path, suggestion }) =>
      `${where(path, "key")}: ${formatPath(path)}: unknown key, ignored${suggestion ? `; did you mean '${suggestion}'?` : ""}`,
  );
  return { config: result.output, warnings };
}

/** `signal.stop`, `after[1]`, `env."A=B"`: how a field is named in messages. */
function formatPath(path: readonly PathKey[]): string {
  let out = "";
  for (const k of path) {
    if (typeof k === "number") out += `[${k}]`;
    else {
      const shown = /^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k);
      out += out ? `.${shown}` : shown;
    }
  }
  return out;
}
