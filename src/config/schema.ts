// The service file schema: upstream's keys and defaults (zinit-upstream.md §2.2), validated
// once, at load time, so the supervisor only ever sees well-formed configs. Every failure is one
// line naming the file and the field, because it ends up in zinit's log and in RPC errors.

import * as v from "valibot";
import { LineCounter, parseDocument, type ScalarTag } from "yaml";
import {
  DEFAULT_LOG_KEEP,
  DEFAULT_LOG_MAX_BYTES,
  DEFAULT_MAX_RESTARTS,
  DEFAULT_RESTART_DELAY_MAX_MS,
  DEFAULT_RESTART_DELAY_MS,
  DEFAULT_RESTART_WINDOW_MS,
  DEFAULT_STABILITY_PERIOD_MS,
} from "../core/policy.ts";
import { parseSignal } from "../core/signals.ts";
import type { LogMode, ServiceConfig } from "../core/types.ts";
import { serviceNameError } from "./names.ts";
import { ShlexError, splitWords } from "./shlex.ts";

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

export const DEFAULT_SHUTDOWN_TIMEOUT = 10;
/** Longer timeouts overflow the 32-bit millisecond timers that enforce them (they'd fire at once). */
export const MAX_SHUTDOWN_TIMEOUT = Math.floor((2 ** 31 - 1) / 1000);

/** Parses the text of a service file; `source` (its path) prefixes every error message. */
export function parseService(text: string, source: string): ServiceConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    schema: "failsafe",
    customTags: [nullTag, boolTag],
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
    // "error", not "silent": silent also drops errors such as a second document.
    logLevel: "error",
  });
  const error = doc.errors[0];
  if (error) {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    throw new ConfigFileError(`${source}:${line}:${col}: ${oneLine(error.message)}`);
  }
  let value: unknown;
  try {
    // Bounded alias expansion: a "billion laughs" file must not exhaust PID 1's memory.
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigFileError(`${source}: ${oneLine(err instanceof Error ? err.message : err)}`);
  }
  return validateServiceObject(value, source);
}

/** Validates an already-decoded service (e.g. JSON given to `service_create`). */
export function validateServiceObject(obj: unknown, source: string): ServiceConfig {
  // An empty document is an empty map: what is missing then is `exec`.
  const result = v.safeParse(ServiceFile, obj ?? {});
  if (result.success) return result.output;
  const issue = result.issues[0];
  const field = formatPath(issue.path);
  throw new ConfigFileError(`${source}: ${field ? `${field}: ` : ""}${issue.message}`);
}

// YAML typing follows upstream's serde_yaml 0.8 rather than YAML 1.2: only plain lowercase
// `true`/`false` are booleans and only `~`/`null`/empty are null. Every other scalar stays the
// text as written, so `PORT: 08080` is "08080" and `exec: 1.0` is "1.0", never a reformatted number.
const nullTag: ScalarTag = {
  tag: "tag:yaml.org,2002:null",
  default: true,
  test: /^(?:~|null|Null|NULL)?$/,
  identify: (value) => value === null,
  resolve: () => null,
};
const boolTag: ScalarTag = {
  tag: "tag:yaml.org,2002:bool",
  default: true,
  test: /^(?:true|false)$/,
  identify: (value) => typeof value === "boolean",
  resolve: (source) => source === "true",
};

const isMap = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const isScalar = (value: unknown): value is string | number | boolean =>
  typeof value === "string" || typeof value === "number" || typeof value === "boolean";

/** How a rejected value is shown in a message: short, one line, unambiguous. */
function describe(value: unknown): string {
  if (value === null || value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a map";
  if (typeof value === "string") {
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  }
  return String(value);
}

function oneLine(message: unknown): string {
  return String(message)
    .replace(/\s*\n\s*/g, " ")
    .trim();
}

type PathItem = { key: unknown };

function formatPath(path: readonly PathItem[] | undefined): string {
  let out = "";
  for (const { key } of path ?? []) {
    if (typeof key === "number") out += `[${key}]`;
    else {
      const name = String(key);
      const shown = /^[A-Za-z0-9_-]+$/.test(name) ? name : JSON.stringify(name);
      out += out ? `.${shown}` : shown;
    }
  }
  return out;
}

/** Any scalar is accepted where text is expected, as serde does (`exec: 123` is "123"). */
const text = v.pipe(
  v.custom<string | number | boolean>(
    isScalar,
    (issue) => `expected text, got ${describe(issue.input)}`,
  ),
  v.transform(String),
  // execve(2) and the environment cannot carry NUL: such a value could never work.
  v.check((s) => !s.includes("\0"), "must not contain a NUL byte"),
);

/** `exec`/`test`: the line as written plus its words, split now so a bad line fails at load. */
const command = (required: boolean) =>
  v.pipe(
    v.optional(v.nullable(text, ""), ""),
    v.rawTransform<string, { line: string; argv: string[] }>(({ dataset, addIssue, NEVER }) => {
      const line = dataset.value;
      if (line === "") {
        if (!required) return { line, argv: [] };
        addIssue({ message: "missing exec directive" });
        return NEVER;
      }
      let argv: string[];
      try {
        argv = splitWords(line);
      } catch (err) {
        if (!(err instanceof ShlexError)) throw err;
        addIssue({ message: `cannot split ${describe(line)}: ${err.message}` });
        return NEVER;
      }
      if (argv.length === 0) {
        addIssue({ message: `no command in ${describe(line)}` });
        return NEVER;
      }
      if (argv[0] === "") {
        addIssue({ message: `empty program name in ${describe(line)}` });
        return NEVER;
      }
      return { line, argv };
    }),
  );

const shutdownTimeout = v.pipe(
  v.unknown(),
  v.rawTransform<unknown, number>(({ dataset, addIssue, NEVER }) => {
    const raw = dataset.value;
    // YAML scalars arrive as text; a quoted "10" is accepted as well (upstream refuses it).
    const n =
      typeof raw === "number"
        ? raw
        : typeof raw === "string" && /^[0-9]+$/.test(raw)
          ? Number(raw)
          : -1;
    if (!Number.isSafeInteger(n) || n < 0) {
      addIssue({ message: `expected a non-negative integer, got ${describe(raw)}` });
      return NEVER;
    }
    if (n > MAX_SHUTDOWN_TIMEOUT) {
      addIssue({ message: `must be at most ${MAX_SHUTDOWN_TIMEOUT} seconds, got ${n}` });
      return NEVER;
    }
    return n;
  }),
);

// A dependency with an impossible name could never be satisfied: say so now, not "Blocked" forever.
const serviceRef = v.pipe(
  text,
  v.check(
    (name) => serviceNameError(name) === null,
    (issue) => `invalid service name ${describe(issue.input)}: ${serviceNameError(issue.input)}`,
  ),
);

const after = v.pipe(
  v.custom<unknown[] | "">(
    (value) => value === "" || Array.isArray(value),
    (issue) => `expected a list of service names, got ${describe(issue.input)}`,
  ),
  v.transform((value) => (value === "" ? [] : value)),
  v.array(serviceRef),
);

const stopSignal = v.pipe(
  text,
  v.rawTransform<string, number>(({ dataset, addIssue, NEVER }) => {
    const num = parseSignal(dataset.value);
    if (num !== null) return num;
    const hint =
      parseSignal(`SIG${dataset.value}`) !== null
        ? ` (did you mean 'SIG${dataset.value.toUpperCase()}'?)`
        : "";
    addIssue({ message: `unknown signal '${dataset.value}'${hint}` });
    return NEVER;
  }),
);

const signal = v.pipe(
  v.custom<Record<string, unknown>>(
    isMap,
    (issue) => `expected a map like {stop: SIGTERM}, got ${describe(issue.input)}`,
  ),
  v.object({ stop: v.optional(v.nullable(stopSignal, "SIGTERM"), "SIGTERM") }),
);

// The docs say `log: null` where the code wants `none` (upstream bug #4): both mean no output.
const log = v.pipe(
  v.picklist(
    ["ring", "stdout", "none", "null"],
    (issue) => `expected one of ring, stdout, none, got ${describe(issue.input)}`,
  ),
  v.transform((mode): LogMode => (mode === "null" ? "none" : mode)),
);

const env = v.pipe(
  v.unknown(),
  v.rawTransform<unknown, Record<string, string>>(({ dataset, addIssue, NEVER }) => {
    const raw = dataset.value;
    if (!isMap(raw)) {
      addIssue({ message: `expected a map of NAME: value, got ${describe(raw)}` });
      return NEVER;
    }
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(raw)) {
      const problem =
        key === ""
          ? "variable name must not be empty"
          : key.includes("=")
            ? "variable name must not contain '='"
            : key.includes("\0")
              ? "variable name must not contain a NUL byte"
              : value !== null && !isScalar(value)
                ? `expected text, got ${describe(value)}`
                : typeof value === "string" && value.includes("\0")
                  ? "must not contain a NUL byte"
                  : null;
      if (problem) {
        addIssue({
          message: problem,
          path: [{ type: "object", origin: "value", input: raw, key, value }],
        });
        return NEVER;
      }
      // defineProperty: a variable may be called `__proto__` and must stay an ordinary entry.
      Object.defineProperty(out, key, {
        value: value === null ? "" : String(value),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }),
);

// Fields are checked in this order, so the first error reported is predictable. Unknown keys are
// ignored, as upstream does (`name:` in upstream's own examples, for instance). A key present but
// empty (null) means its default, except `log`, where null is the documented spelling of none.
const ServiceFile = v.pipe(
  v.custom<Record<string, unknown>>(
    isMap,
    (issue) => `expected a map of service settings, got ${describe(issue.input)}`,
  ),
  v.object({
    exec: command(true),
    test: command(false),
    oneshot: v.optional(
      v.nullable(
        v.boolean((issue) => `expected true or false, got ${describe(issue.input)}`),
        false,
      ),
      false,
    ),
    shutdown_timeout: v.optional(
      v.nullable(shutdownTimeout, DEFAULT_SHUTDOWN_TIMEOUT),
      DEFAULT_SHUTDOWN_TIMEOUT,
    ),
    after: v.optional(
      v.nullable(after, () => []),
      () => [],
    ),
    signal: v.optional(
      v.nullable(signal, () => ({})),
      () => ({}),
    ),
    log: v.optional(v.nullable(log, "none"), "ring"),
    env: v.optional(
      v.nullable(env, () => ({})),
      () => ({}),
    ),
    dir: v.optional(v.nullable(text, ""), ""),
  }),
  v.transform(
    (file): ServiceConfig => ({
      exec: file.exec.line,
      argv: file.exec.argv,
      test: file.test.line,
      testArgv: file.test.argv,
      oneshot: file.oneshot,
      shutdownTimeout: file.shutdown_timeout,
      after: file.after,
      stopSignal: file.signal.stop,
      log: file.log,
      env: file.env,
      dir: file.dir,
      restart: file.oneshot ? "never" : "always",
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
    }),
  ),
);
