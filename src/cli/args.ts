// The command line: the verb table (upstream's clap definitions and `about` strings) and the
// parser. Unlike upstream, the global options may also follow the verb (`zinit init -s X`, as the
// README shows), and `zinit` alone means `list`.

import { type ArgsDef, parseArgs } from "citty";
import { type ApiLimits, DEFAULT_LIMITS } from "../api/limits.ts";
import { DEFAULT_LOG_KEEP, DEFAULT_LOG_MAX_BYTES } from "../core/policy.ts";
import { parseSignal, signalName } from "../core/signals.ts";
import {
  DEFAULT_BUFFER,
  DEFAULT_BUFFER_BYTES,
  DEFAULT_CONFIG_DIR,
  DEFAULT_PROXY_ADDRESS,
  type InitOptions,
  MAX_BUFFER_BYTES,
  MIN_BUFFER_BYTES,
  STDOUT_FORMATS,
  type StdoutFormat,
} from "../defaults.ts";
import { parseTime } from "./log-time.ts";

export interface OptionSpec {
  long: string;
  short?: string;
  /** Value placeholder for options that take one; absent for flags. */
  value?: string;
  help: string;
  default?: string;
}

interface PositionalSpec {
  name: string;
  required: boolean;
  help: string;
  default?: string;
  /** Takes every remaining argument (the last positional only). */
  variadic?: boolean;
}

export interface VerbSpec {
  about: string;
  positionals: PositionalSpec[];
  options: OptionSpec[];
}

export const GLOBAL_OPTIONS: OptionSpec[] = [
  { long: "socket", short: "s", value: "SOCKET", help: "path to the unix socket" },
  { long: "debug", short: "d", help: "debug logging (init); print RPC traffic to stderr (others)" },
  { long: "json", help: "print the RPC result as compact JSON instead of YAML/text" },
  { long: "help", short: "h", help: "Prints help information" },
  {
    long: "version",
    short: "V",
    help: "Prints version information (with -d: and the git revision)",
  },
];

/** Who may use the HTTP API: on `init` and on `proxy`. */
const ACCESS_OPTIONS: OptionSpec[] = [
  {
    long: "cors-origin",
    value: "ORIGINS",
    help: "browser origins allowed to call the HTTP API, comma-separated ('*': any)",
  },
  {
    long: "allow-host",
    value: "HOSTS",
    help: "Host names accepted besides loopback and the listening address, comma-separated",
  },
  {
    long: "token-file",
    value: "FILE",
    help: "require this bearer token (the file's first line) on every HTTP/WebSocket request",
  },
];

type LimitKey = keyof ApiLimits;

/** `init`'s API limits; sizes take K/M/G suffixes (powers of 1024), timeouts are seconds. */
const LIMIT_OPTIONS: Array<OptionSpec & { key: LimitKey }> = [
  {
    key: "maxFrame",
    long: "max-frame",
    value: "BYTES",
    help: "largest request, command line or HTTP body",
  },
  { key: "maxBatch", long: "max-batch", value: "N", help: "most requests in one JSON-RPC batch" },
  {
    key: "maxBatchReply",
    long: "max-batch-reply",
    value: "BYTES",
    help: "largest reply to one batch",
  },
  {
    key: "maxQueued",
    long: "max-queued",
    value: "BYTES",
    help: "unread replies per connection before it is dropped",
  },
  {
    key: "maxInflight",
    long: "max-inflight",
    value: "N",
    help: "requests of one connection answered at once",
  },
  {
    key: "writeTimeoutMs",
    long: "write-timeout",
    value: "SECONDS",
    help: "a client that reads nothing this long is dropped",
  },
  {
    key: "frameTimeoutMs",
    long: "frame-timeout",
    value: "SECONDS",
    help: "an unfinished request idle this long is dropped",
  },
  {
    key: "maxUnfinished",
    long: "max-unfinished",
    value: "BYTES",
    help: "unfinished requests of all clients together",
  },
  {
    key: "maxConnections",
    long: "max-connections",
    value: "N",
    help: "connections open at once (unix sockets and WebSockets)",
  },
].map((o) => ({
  ...o,
  default: limitText(o.key as LimitKey, DEFAULT_LIMITS[o.key as LimitKey]),
})) as Array<OptionSpec & { key: LimitKey }>;

function limitText(key: LimitKey, value: number): string {
  if (key.endsWith("Ms")) return String(value / 1000);
  if (key === "maxBatch" || key === "maxInflight" || key === "maxConnections") return String(value);
  for (const [unit, size] of [
    ["G", 2 ** 30],
    ["M", 2 ** 20],
    ["K", 2 ** 10],
  ] as const) {
    if (value % size === 0) return `${value / size}${unit}`;
  }
  return String(value);
}

/** Parses one limit flag; a bad value is a usage error naming the flag. */
function parseLimit(o: OptionSpec & { key: LimitKey }, text: string): number {
  const bad = () =>
    new UsageError(
      `option --${o.long} needs ${o.value === "SECONDS" ? "a number of seconds" : o.value === "N" ? "a positive integer" : "a size such as 4096, 512K or 10M"} (got '${text}')`,
    );
  if (o.value === "SECONDS") {
    const seconds = Number(text);
    if (!/^\d+(\.\d+)?$/.test(text) || !(seconds > 0)) throw bad();
    return Math.round(seconds * 1000);
  }
  const m = /^(\d+)([KMG]?)$/i.exec(text);
  if (!m || (o.value === "N" && m[2] !== "")) throw bad();
  const unit = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 }[
    (m[2] as string).toUpperCase() as "" | "K" | "M" | "G"
  ];
  const value = Number(m[1]) * unit;
  if (!Number.isSafeInteger(value) || value < 1) throw bad();
  return value;
}

const list = (text: string | undefined): string[] =>
  (text ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");

/** `-c DIR`: of `init`, and of `check`, which reads the files as `init` would. */
const CONFIG_DIR_OPTION: OptionSpec = {
  long: "config",
  short: "c",
  value: "DIR",
  help: "service configurations directory",
  default: DEFAULT_CONFIG_DIR,
};

const service = (help = "service name"): PositionalSpec => ({
  name: "SERVICE",
  required: true,
  help,
});

/** One or more services, or none with --all. */
const services = (help = "service names, in any order"): PositionalSpec => ({
  name: "SERVICE",
  required: true,
  variadic: true,
  help,
});

/** What `wait` and `--wait` can wait for (service_wait's conditions). */
export const WAIT_CONDITIONS = ["running", "stopped", "exited", "failed"] as const;
export type WaitFor = (typeof WAIT_CONDITIONS)[number];

const TIMEOUT_OPTION: OptionSpec = {
  long: "timeout",
  value: "SECONDS",
  help: "give up after this long: exit code 1 (default: no limit)",
};

/** start/stop/restart: several services, all of them, and waiting in the daemon. */
const bulkOptions = (waitHelp: string): OptionSpec[] => [
  {
    long: "all",
    help: "every service (start in dependency order, stop dependents first)",
  },
  { long: "wait", help: waitHelp },
  TIMEOUT_OPTION,
];

export const VERBS = {
  check: {
    about:
      "check service files as the daemon would load them, without a daemon; exit 1 on any error",
    positionals: [
      {
        name: "PATH",
        required: false,
        variadic: true,
        help: "a config directory, or service files (default: the -c directory)",
      },
    ],
    options: [CONFIG_DIR_OPTION],
  },
  forget: {
    about: "forget a service. you can only forget a stopped service",
    positionals: [service()],
    options: [],
  },
  help: {
    about: "Prints this message or the help of the given subcommand(s)",
    positionals: [{ name: "SUBCOMMAND", required: false, help: "the subcommand to explain" }],
    options: [],
  },
  init: {
    about: "run in init mode, start and maintain configured services",
    positionals: [],
    options: [
      CONFIG_DIR_OPTION,
      {
        long: "buffer",
        short: "b",
        value: "BUFFER",
        help: "buffer size (in lines) to keep services logs",
        default: String(DEFAULT_BUFFER),
      },
      { long: "container", help: "run in container mode, shutdown on signal" },
      {
        long: "socket-mode",
        value: "MODE",
        help: "permissions of the socket file, in octal",
        default: "0600",
      },
      {
        long: "http",
        value: "ADDRESS",
        help: "also serve the HTTP/RPC API on this address from the start (as `zinit proxy` does)",
      },
      ...ACCESS_OPTIONS,
      ...LIMIT_OPTIONS.map(({ key: _, ...o }) => o),
      {
        long: "buffer-bytes",
        value: "SIZE",
        help: "most bytes the log ring keeps (k, M, G suffixes)",
        default: "4M",
      },
      {
        long: "log-dir",
        value: "DIR",
        help: "also write every ring-logged service's lines to DIR/<name>.log; default dir of `log: file`",
      },
      {
        long: "log-max-size",
        value: "SIZE",
        help: "rotate --log-dir files at this size (k, M, G suffixes)",
        default: "10M",
      },
      {
        long: "log-keep",
        value: "N",
        help: "rotated --log-dir files kept",
        default: String(DEFAULT_LOG_KEEP),
      },
      {
        long: "stdout-format",
        value: "FORMAT",
        help: "how `log: stdout` lines are written: raw, prefix (`name | line`) or json",
        default: "raw",
      },
    ],
  },
  kill: {
    about: "send a signal to a running service.",
    positionals: [
      service(),
      {
        name: "SIGNAL",
        required: false,
        help: "signal name or number: SIGTERM, TERM, term, 15",
        default: "SIGTERM",
      },
    ],
    options: [],
  },
  list: {
    about: "quick view of current known services and their status",
    positionals: [],
    options: [],
  },
  log: {
    about: "view services logs from zinit ring buffer",
    positionals: [
      {
        name: "FILTER",
        required: false,
        help: "an optional 'exact' service name (several: any of them; NAME/test, zinit)",
        variadic: true,
      },
    ],
    options: [
      {
        long: "snapshot",
        short: "s",
        help: "if set log prints current buffer without following",
      },
      { long: "follow", short: "f", help: "follow new lines (the default, unless -s or --until)" },
      {
        long: "lines",
        short: "n",
        value: "LINES",
        help: "only the last LINES lines of the buffer",
      },
      {
        long: "since",
        value: "TIME",
        help: "only lines read since TIME: 30s, 10m, 2h, 1d ago, or a date (2026-01-31T12:00)",
      },
      { long: "until", value: "TIME", help: "only lines read until TIME (then exit)" },
      {
        long: "grep",
        value: "RE",
        help: "only lines whose text matches the regular expression RE",
      },
      { long: "timestamps", short: "t", help: "print the time zinit read each line" },
      { long: "reopen", help: "reopen every log file (after logrotate moved them) and exit" },
    ],
  },
  monitor: {
    about: "start monitoring a service. configuration is loaded from server config directory",
    positionals: [service()],
    options: [],
  },
  proxy: {
    about: "start an HTTP/RPC proxy for Zinit API",
    positionals: [],
    options: [
      {
        long: "address",
        short: "a",
        value: "ADDRESS",
        help: "address to bind the HTTP/RPC server to",
        default: DEFAULT_PROXY_ADDRESS,
      },
      ...ACCESS_OPTIONS,
    ],
  },
  reboot: { about: "stop all services and reboot", positionals: [], options: [] },
  ready: {
    about: "exit 0 if every service that should be up is ready (or the named ones), else 1",
    positionals: [
      {
        name: "SERVICE",
        required: false,
        variadic: true,
        help: "only these services (default: every service whose target is Up)",
      },
    ],
    options: [],
  },
  restart: {
    about: "restart a service.",
    positionals: [services()],
    options: bulkOptions("then wait until they are running: exit 0, 1 on timeout, 2 if one failed"),
  },
  shutdown: { about: "stop all services and power off", positionals: [], options: [] },
  start: {
    about: "start service. has no effect if the service is already running",
    positionals: [services()],
    options: bulkOptions("wait until they are running: exit 0, 1 on timeout, 2 if one failed"),
  },
  stats: {
    about: "show memory and CPU usage statistics for a service",
    positionals: [service()],
    options: [],
  },
  status: {
    about: "show detailed service status",
    positionals: [
      {
        name: "SERVICE",
        required: false,
        help: "service name (default: the detail of every service)",
      },
    ],
    options: [
      {
        long: "verbose",
        short: "v",
        help: "also restarts, backoff, budget left, last exit, why, checks",
      },
    ],
  },
  stop: {
    about: "stop service",
    positionals: [services()],
    options: bulkOptions("exit 0 once they are stopped, 1 on timeout"),
  },
  events: {
    about: "follow every state change of every service (a snapshot first), until Ctrl-C",
    positionals: [],
    options: [],
  },
  wait: {
    about: "wait in the daemon until services reach a state: exit 0, 1 on timeout, 2 if one failed",
    positionals: [services()],
    options: [
      {
        long: "for",
        value: "STATE",
        help: `running, stopped, exited or failed`,
        default: "running",
      },
      TIMEOUT_OPTION,
    ],
  },
} satisfies Record<string, VerbSpec>;

export type Verb = keyof typeof VERBS;
type ClientVerb = Exclude<Verb, "init" | "help">;

export interface ClientInvocation {
  verb: ClientVerb;
  socket: string;
  debug: boolean;
  json: boolean;
  /** SERVICE. */
  name?: string;
  /** SERVICE… of start, stop, restart, status, wait and ready (none: see `all`). */
  names?: string[];
  /** `--all`: every service. */
  all?: boolean;
  /** start/stop/restart `--wait`. */
  wait?: boolean;
  /** `--timeout`, in seconds; absent: no limit. */
  timeoutS?: number;
  /** `wait --for`. */
  waitFor?: WaitFor;
  /** `status -v`. */
  verbose?: boolean;
  signal?: string;
  address?: string;
  /** `proxy`: who may use the HTTP API it starts. */
  corsOrigins?: string[];
  allowHosts?: string[];
  tokenFile?: string;
  /** `check`: directories and files to check. */
  paths?: string[];
  log?: LogInvocation;
}

/** `zinit log`'s options. Times are milliseconds since the epoch. */
export interface LogInvocation {
  names: string[];
  follow: boolean;
  lines?: number;
  since?: number;
  until?: number;
  grep?: string;
  timestamps: boolean;
  reopen: boolean;
}

export type Action =
  | { kind: "help"; verb?: Verb }
  | { kind: "version"; detailed: boolean }
  | { kind: "init"; options: InitOptions }
  | { kind: "client"; invocation: ClientInvocation };

/** A bad command line: printed as one line, exit code 1. */
export class UsageError extends Error {
  override name = "UsageError";
}

const isVerb = (word: string): word is Verb => Object.hasOwn(VERBS, word);

/** citty's definition for a set of options; the verb's own short names win over the globals'. */
function argsDef(options: OptionSpec[]): ArgsDef {
  const taken = new Set(options.flatMap((o) => (o.short ? [o.short] : [])));
  const def: ArgsDef = {};
  for (const o of options) def[o.long] = { type: o.value ? "string" : "boolean", alias: o.short };
  for (const o of GLOBAL_OPTIONS) {
    const alias = o.short && !taken.has(o.short) ? o.short : undefined;
    def[o.long] = { type: o.value ? "string" : "boolean", alias };
  }
  return def;
}

function optionLabel(o: OptionSpec): string {
  return o.short ? `-${o.short}/--${o.long}` : `--${o.long}`;
}

/** Index of the verb in argv: the first word that is not an option or a global option's value. */
function findVerb(argv: string[]): number {
  const valueShorts = new Set(GLOBAL_OPTIONS.filter((o) => o.value).map((o) => o.short));
  const valueLongs = new Set(GLOBAL_OPTIONS.filter((o) => o.value).map((o) => `--${o.long}`));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") return i + 1 < argv.length ? i + 1 : -1;
    if (!arg.startsWith("-") || arg === "-") return i;
    if (valueLongs.has(arg)) {
      i++;
    } else if (!arg.startsWith("--")) {
      // In a short group the first value option takes the rest of the group (`-ds/x`), or the
      // next word when it ends the group (`-ds /x`), as citty's parser does.
      const letters = arg.slice(1);
      const at = [...letters].findIndex((c) => valueShorts.has(c));
      if (at === letters.length - 1) i++;
    }
  }
  return -1;
}

type Parsed = Record<string, unknown> & { _: string[] };

function parseSection(argv: string[], options: OptionSpec[], where: string): Parsed {
  const all = [...options, ...GLOBAL_OPTIONS];
  // citty reads `--flag=anything` as true; a value given to a flag is a mistake worth reporting.
  const end = argv.indexOf("--");
  for (const arg of end < 0 ? argv : argv.slice(0, end)) {
    const flag = /^--([^=]+)=/.exec(arg)?.[1];
    const spec = all.find((o) => o.long === flag);
    if (spec && !spec.value)
      throw new UsageError(`option ${optionLabel(spec)} takes no value${where}`);
  }
  const parsed = parseArgs(argv, argsDef(options)) as unknown as Parsed;
  // citty also reports a dashed option under its camelCase name (socket-mode → socketMode).
  const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  const known = new Set(all.flatMap((o) => [o.long, camel(o.long), ...(o.short ? [o.short] : [])]));
  for (const key of Object.keys(parsed)) {
    if (key === "_" || known.has(key)) continue;
    throw new UsageError(`unknown option '${key.length === 1 ? "-" : "--"}${key}'${where}`);
  }
  for (const o of all) {
    const value = parsed[o.long];
    if (value === undefined) continue;
    if (o.value && (typeof value !== "string" || value === "")) {
      throw new UsageError(`option ${optionLabel(o)} needs a value${where}`);
    }
    if (!o.value && typeof value !== "boolean") {
      throw new UsageError(`option ${optionLabel(o)} takes no value${where}`);
    }
  }
  return parsed;
}

function parseMode(text: string): number {
  if (!/^0?[0-7]{3}$/.test(text)) {
    throw new UsageError(`option --socket-mode must be an octal mode such as 0660 (got '${text}')`);
  }
  return Number.parseInt(text, 8);
}

function parseBuffer(text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`option -b/--buffer must be a positive integer (got '${text}')`);
  }
  return n;
}

const SIZE_UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** `4096`, `64k`, `4M`, `1G` (binary multiples; a trailing `B` or `iB` is allowed). */
export function parseSize(option: string, text: string, min: number, max: number): number {
  const m = /^(\d+)([kmg]?)(i?b)?$/i.exec(text);
  const n = m ? Number(m[1]) * (SIZE_UNITS[(m[2] as string).toLowerCase()] as number) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(
      `option ${option} must be a size from ${min} to ${max} bytes, e.g. 4M (got '${text}')`,
    );
  }
  return n;
}

function parseCount(option: string, text: string, max: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > max) {
    throw new UsageError(`option ${option} must be an integer from 0 to ${max} (got '${text}')`);
  }
  return n;
}

function parseFormat(text: string): StdoutFormat {
  if ((STDOUT_FORMATS as readonly string[]).includes(text)) return text as StdoutFormat;
  throw new UsageError(`option --stdout-format must be raw, prefix or json (got '${text}')`);
}

function logInvocation(tail: Parsed, names: string[], now: number): LogInvocation {
  const str = (key: string) => tail[key] as string | undefined;
  const time = (option: string, key: string) => {
    const text = str(key);
    if (text === undefined) return undefined;
    const ms = parseTime(text, now);
    if (ms === null) {
      throw new UsageError(
        `option ${option} needs a time such as 30s, 10m, 2h, 1d or 2026-01-31T12:00 (got '${text}')`,
      );
    }
    return ms;
  };
  const snapshot = tail.snapshot === true;
  const until = time("--until", "until");
  if (tail.follow === true && (snapshot || until !== undefined)) {
    throw new UsageError(`option -f/--follow cannot be used with ${snapshot ? "-s" : "--until"}`);
  }
  const log: LogInvocation = {
    names,
    follow: tail.follow === true || (!snapshot && until === undefined),
    timestamps: tail.timestamps === true,
    reopen: tail.reopen === true,
  };
  const lines = str("lines");
  if (lines !== undefined) log.lines = parseCount("-n/--lines", lines, Number.MAX_SAFE_INTEGER);
  const since = time("--since", "since");
  if (since !== undefined) log.since = since;
  if (until !== undefined) log.until = until;
  const grep = str("grep");
  if (grep !== undefined) log.grep = grep;
  return log;
}

function parseSeconds(text: string): number {
  const seconds = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(seconds)) {
    throw new UsageError(`option --timeout needs a number of seconds (got '${text}')`);
  }
  return seconds;
}

function parseWaitFor(text: string): WaitFor {
  const known = WAIT_CONDITIONS.find((c) => c === text);
  if (!known) {
    throw new UsageError(
      `option --for must be one of ${WAIT_CONDITIONS.join(", ")} (got '${text}')`,
    );
  }
  return known;
}

/**
 * `9`, `KILL`, `kill`, `sigkill` → `SIGKILL`: the RPC keeps upstream's rule (a SIG-prefixed name),
 * the command line is friendlier. Anything unknown goes through as typed, so the daemon's error
 * names what the user wrote.
 */
function canonicalSignal(text: string): string {
  if (/^\d{1,2}$/.test(text)) {
    const name = signalName(Number(text));
    return parseSignal(name) === null ? text : name;
  }
  if (parseSignal(text) !== null) return text.toUpperCase();
  if (parseSignal(`SIG${text}`) !== null) return `SIG${text.toUpperCase()}`;
  return text;
}

/**
 * Turns argv (without the program name) into what to do. `defaultSocket` is only called when no
 * `-s` is given, so a test can pin it.
 */
export function parseCommandLine(
  argv: string[],
  defaultSocket: (forInit: boolean) => string,
  /** Root's default socket also gets upstream's `/tmp/zinit.sock` beside it. */
  compatSocket: (socket: string) => string | null = () => null,
  now: number = Date.now(),
): Action {
  const at = findVerb(argv);
  const head = parseSection(at < 0 ? argv : argv.slice(0, at), [], "");
  const word = at < 0 ? "list" : (argv[at] as string);
  if (!isVerb(word)) throw new UsageError(`unknown command '${word}' (see 'zinit --help')`);
  const spec: VerbSpec = VERBS[word];
  const where = ` for 'zinit ${word}'`;
  const tail = at < 0 ? { _: [] } : parseSection(argv.slice(at + 1), spec.options, where);
  const pick = (key: string): unknown => tail[key] ?? head[key];

  if (pick("help") === true) return { kind: "help", verb: at < 0 ? undefined : word };
  if (pick("version") === true) return { kind: "version", detailed: pick("debug") === true };

  const positionals = tail._;
  const variadic = spec.positionals.at(-1)?.variadic === true;
  if (!variadic && positionals.length > spec.positionals.length) {
    throw new UsageError(`unexpected argument '${positionals[spec.positionals.length]}'${where}`);
  }
  const all = tail.all === true;
  const args: Record<string, string | undefined> = {};
  let rest: string[] = [];
  spec.positionals.forEach((p, i) => {
    const given = positionals[i];
    if (p.variadic) rest = positionals.slice(i);
    if (given === undefined && p.required && !(p.variadic && all)) {
      throw new UsageError(`missing argument <${p.name}>${where}`);
    }
    args[p.name] = given ?? p.default;
  });
  if (all && rest.length > 0) {
    throw new UsageError(`--all and service names do not go together${where}`);
  }

  if (word === "help") {
    const topic = args.SUBCOMMAND;
    if (topic === undefined) return { kind: "help" };
    if (!isVerb(topic)) throw new UsageError(`unknown command '${topic}' (see 'zinit --help')`);
    return { kind: "help", verb: topic };
  }

  const given = pick("socket") as string | undefined;
  const socket = given ?? defaultSocket(word === "init");
  const debug = pick("debug") === true;
  if (word === "init") {
    return {
      kind: "init",
      options: {
        configDir: (tail.config as string | undefined) ?? DEFAULT_CONFIG_DIR,
        socket,
        buffer: parseBuffer((tail.buffer as string | undefined) ?? String(DEFAULT_BUFFER)),
        container: tail.container === true,
        debug,
        http: (tail.http as string | undefined) ?? null,
        socketMode: parseMode((tail["socket-mode"] as string | undefined) ?? "0600"),
        limits: Object.fromEntries(
          LIMIT_OPTIONS.flatMap((o) => {
            const given = tail[o.long] as string | undefined;
            return given === undefined ? [] : [[o.key, parseLimit(o, given)]];
          }),
        ),
        corsOrigins: list(tail["cors-origin"] as string | undefined),
        allowHosts: list(tail["allow-host"] as string | undefined),
        tokenFile: (tail["token-file"] as string | undefined) ?? null,
        compatSocket: given === undefined ? compatSocket(socket) : null,
        bufferBytes: parseSize(
          "--buffer-bytes",
          (tail["buffer-bytes"] as string | undefined) ?? String(DEFAULT_BUFFER_BYTES),
          MIN_BUFFER_BYTES,
          MAX_BUFFER_BYTES,
        ),
        logDir: (tail["log-dir"] as string | undefined) ?? null,
        logMaxBytes: parseSize(
          "--log-max-size",
          (tail["log-max-size"] as string | undefined) ?? String(DEFAULT_LOG_MAX_BYTES),
          4096,
          Number.MAX_SAFE_INTEGER,
        ),
        logKeep: parseCount(
          "--log-keep",
          (tail["log-keep"] as string | undefined) ?? String(DEFAULT_LOG_KEEP),
          1000,
        ),
        stdoutFormat: parseFormat((tail["stdout-format"] as string | undefined) ?? "raw"),
      },
    };
  }

  const invocation: ClientInvocation = { verb: word, socket, debug, json: pick("json") === true };
  const multi = spec.positionals.some((p) => p.variadic);
  if (multi && word !== "log" && word !== "check") invocation.names = rest;
  else if (args.SERVICE !== undefined) invocation.name = args.SERVICE;
  if (all) invocation.all = true;
  if (tail.wait === true) invocation.wait = true;
  if (tail.verbose === true) invocation.verbose = true;
  if (tail.timeout !== undefined) invocation.timeoutS = parseSeconds(tail.timeout as string);
  if (word === "wait")
    invocation.waitFor = parseWaitFor((tail.for as string | undefined) ?? "running");
  if (word === "kill") invocation.signal = canonicalSignal(args.SIGNAL ?? "SIGTERM");
  if (word === "log") invocation.log = logInvocation(tail, positionals, now);
  if (word === "proxy") {
    invocation.address = (tail.address as string | undefined) ?? DEFAULT_PROXY_ADDRESS;
    if (tail["cors-origin"] !== undefined)
      invocation.corsOrigins = list(tail["cors-origin"] as string);
    if (tail["allow-host"] !== undefined)
      invocation.allowHosts = list(tail["allow-host"] as string);
    if (tail["token-file"] !== undefined) invocation.tokenFile = tail["token-file"] as string;
  }
  if (word === "check") {
    const dir = tail.config as string | undefined;
    if (dir !== undefined && positionals.length > 0) {
      throw new UsageError(`give either -c DIR or paths${where}, not both`);
    }
    invocation.paths = positionals.length > 0 ? [...positionals] : [dir ?? DEFAULT_CONFIG_DIR];
  }
  return { kind: "client", invocation };
}
