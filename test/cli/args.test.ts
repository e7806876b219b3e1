import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Action, parseCommandLine, UsageError } from "../../src/cli/args.ts";
import { timeoutFromEnv } from "../../src/cli/commands.ts";
import { defaultSocket } from "../../src/defaults.ts";

const SOCK = "/default.sock";
const parse = (...argv: string[]): Action => parseCommandLine(argv, () => SOCK);
const client = (...argv: string[]) => {
  const action = parse(...argv);
  if (action.kind !== "client") throw new Error(`expected a client action, got ${action.kind}`);
  return action.invocation;
};
const usageError = (...argv: string[]): string => {
  try {
    parse(...argv);
  } catch (err) {
    if (err instanceof UsageError) return err.message;
    throw err;
  }
  throw new Error(`no error for ${argv.join(" ")}`);
};

describe("verbs and defaults", () => {
  test("no verb means list", () => {
    expect(client()).toEqual({ verb: "list", socket: SOCK, debug: false, json: false });
    expect(client("-s", "/x.sock")).toEqual({
      verb: "list",
      socket: "/x.sock",
      debug: false,
      json: false,
    });
  });

  test("service verbs take SERVICE", () => {
    for (const verb of ["monitor", "forget", "stats"]) {
      expect(client(verb, "redis")).toEqual({
        verb: verb as never,
        socket: SOCK,
        debug: false,
        json: false,
        name: "redis",
      });
      expect(usageError(verb)).toBe(`missing argument <SERVICE> for 'zinit ${verb}'`);
    }
    expect(client("status", "redis")).toEqual({
      verb: "status",
      socket: SOCK,
      debug: false,
      json: false,
      name: "redis",
    });
    // Without a name: every service's detail.
    expect(client("status")).toEqual({ verb: "status", socket: SOCK, debug: false, json: false });
    expect(client("status", "redis", "-v")).toMatchObject({ name: "redis", verbose: true });
    expect(client("status", "--verbose", "redis")).toMatchObject({ verbose: true });
    expect(usageError("status", "a", "b")).toBe("unexpected argument 'b' for 'zinit status'");
  });

  test("start, stop and restart take one or more services, or --all", () => {
    for (const verb of ["start", "stop", "restart"]) {
      expect(client(verb, "redis")).toEqual({
        verb: verb as never,
        socket: SOCK,
        debug: false,
        json: false,
        names: ["redis"],
      });
      expect(client(verb, "a", "b", "c")).toMatchObject({ names: ["a", "b", "c"] });
      expect(client(verb, "--all")).toMatchObject({ names: [], all: true });
      expect(client(verb, "a", "--wait", "--timeout", "2.5")).toMatchObject({
        names: ["a"],
        wait: true,
        timeoutS: 2.5,
      });
      expect(usageError(verb)).toBe(`missing argument <SERVICE> for 'zinit ${verb}'`);
      expect(usageError(verb, "--all", "a")).toBe(
        `--all and service names do not go together for 'zinit ${verb}'`,
      );
      expect(usageError(verb, "a", "--timeout", "soon")).toBe(
        "option --timeout needs a number of seconds (got 'soon')",
      );
    }
  });

  test("wait NAME... [--for STATE] [--timeout S]; ready [NAME...]; events", () => {
    expect(client("wait", "a", "b")).toMatchObject({ names: ["a", "b"], waitFor: "running" });
    expect(client("wait", "a", "--for", "exited", "--timeout", "3")).toMatchObject({
      names: ["a"],
      waitFor: "exited",
      timeoutS: 3,
    });
    expect(usageError("wait")).toBe("missing argument <SERVICE> for 'zinit wait'");
    expect(usageError("wait", "a", "--for", "up")).toBe(
      "option --for must be one of running, stopped, exited, failed (got 'up')",
    );
    expect(client("ready")).toMatchObject({ verb: "ready", names: [] });
    expect(client("ready", "web", "db")).toMatchObject({ names: ["web", "db"] });
    expect(client("events", "--json")).toEqual({
      verb: "events",
      socket: SOCK,
      debug: false,
      json: true,
    });
    expect(usageError("events", "x")).toBe("unexpected argument 'x' for 'zinit events'");
  });

  test("kill defaults to SIGTERM", () => {
    expect(client("kill", "redis")).toMatchObject({
      verb: "kill",
      name: "redis",
      signal: "SIGTERM",
    });
    // Canonical on the wire: upstream's daemon wants the SIG prefix (any case).
    expect(client("kill", "redis", "sigusr1")).toMatchObject({ signal: "SIGUSR1" });
    expect(client("kill", "redis", "9")).toMatchObject({ signal: "SIGKILL" });
    expect(client("kill", "redis", "KILL")).toMatchObject({ signal: "SIGKILL" });
    expect(client("kill", "redis", "hup")).toMatchObject({ signal: "SIGHUP" });
    // Unknown ones reach the daemon as typed, so its error names them.
    expect(client("kill", "redis", "0")).toMatchObject({ signal: "0" });
    expect(client("kill", "redis", "64")).toMatchObject({ signal: "64" });
    expect(client("kill", "redis", "BOGUS")).toMatchObject({ signal: "BOGUS" });
    expect(client("kill", "redis", "SIGRTMIN")).toMatchObject({ signal: "SIGRTMIN" });
    expect(usageError("kill", "a", "b", "c")).toBe("unexpected argument 'c' for 'zinit kill'");
  });

  test("log: -s after the verb is --snapshot, FILTER optional", () => {
    expect(client("log")).toEqual({
      verb: "log",
      socket: SOCK,
      debug: false,
      json: false,
      log: { names: [], follow: true, timestamps: false, reopen: false },
    });
    expect(client("log", "-s", "redis")).toMatchObject({
      log: { names: ["redis"], follow: false },
      socket: SOCK,
    });
    expect(client("-s", "/a.sock", "log", "-s")).toMatchObject({
      log: { follow: false },
      socket: "/a.sock",
    });
    expect(client("log", "--socket", "/b.sock", "--snapshot")).toMatchObject({
      log: { follow: false },
      socket: "/b.sock",
    });
  });

  test("check: the -c directory by default, or any number of paths", () => {
    expect(client("check")).toMatchObject({ verb: "check", paths: ["/etc/zinit"] });
    expect(client("check", "-c", "/srv/zinit")).toMatchObject({ paths: ["/srv/zinit"] });
    expect(client("check", "a.yaml", "b.yml", "dir")).toMatchObject({
      paths: ["a.yaml", "b.yml", "dir"],
    });
    expect(client("check", "--json", "x")).toMatchObject({ json: true, paths: ["x"] });
    expect(usageError("check", "-c", "/d", "a.yaml")).toBe(
      "give either -c DIR or paths for 'zinit check', not both",
    );
  });

  test("log: several names, -n, --since/--until as ages or dates, --grep, -t, -f, --reopen", () => {
    const now = Date.UTC(2026, 0, 31, 12, 0, 0);
    const log = (...argv: string[]) => {
      const action = parseCommandLine(
        ["log", ...argv],
        () => SOCK,
        () => null,
        now,
      );
      if (action.kind !== "client" || !action.invocation.log) throw new Error("not a log action");
      return action.invocation.log;
    };
    expect(log("web", "db", "web/test", "-n", "50", "--grep", "err(or)?", "-t")).toEqual({
      names: ["web", "db", "web/test"],
      follow: true,
      lines: 50,
      grep: "err(or)?",
      timestamps: true,
      reopen: false,
    });
    expect(log("--since", "10m")).toMatchObject({ since: now - 600_000, follow: true });
    expect(log("--since", "1h30m", "--until", "30s")).toMatchObject({
      since: now - 5_400_000,
      until: now - 30_000,
      follow: false,
    });
    expect(log("--since", "2026-01-31T10:00:00Z").since).toBe(Date.UTC(2026, 0, 31, 10));
    expect(log("--since", "2026-01-31 10:00:00Z").since).toBe(Date.UTC(2026, 0, 31, 10));
    expect(log("--since", "2026-01-30").since).toBe(new Date(2026, 0, 30).getTime());
    expect(log("--until", "now").until).toBe(now);
    expect(log("-f", "-n", "0")).toMatchObject({ follow: true, lines: 0 });
    expect(log("--reopen").reopen).toBe(true);
    expect(usageError("log", "-f", "-s")).toBe("option -f/--follow cannot be used with -s");
    expect(usageError("log", "-f", "--until", "1m")).toBe(
      "option -f/--follow cannot be used with --until",
    );
    expect(usageError("log", "--since", "yesterday")).toBe(
      "option --since needs a time such as 30s, 10m, 2h, 1d or 2026-01-31T12:00 (got 'yesterday')",
    );
    expect(usageError("log", "-n", "-3")).toBe(
      "option -n/--lines must be an integer from 0 to 9007199254740991 (got '-3')",
    );
    expect(usageError("log", "-n", "ten")).toBe(
      "option -n/--lines must be an integer from 0 to 9007199254740991 (got 'ten')",
    );
  });

  test("proxy address", () => {
    expect(client("proxy")).toMatchObject({ verb: "proxy", address: "127.0.0.1:8080" });
    expect(client("proxy", "-a", "0.0.0.0:9000")).toMatchObject({ address: "0.0.0.0:9000" });
    expect(client("proxy", "--address=[::1]:80")).toMatchObject({ address: "[::1]:80" });
  });

  test("shutdown, reboot, list take nothing", () => {
    expect(client("shutdown").verb).toBe("shutdown");
    expect(client("reboot").verb).toBe("reboot");
    expect(usageError("list", "x")).toBe("unexpected argument 'x' for 'zinit list'");
  });
});

describe("global options before or after the verb (upstream bug #2)", () => {
  test("-s/--socket and -d/--debug in both positions", () => {
    const expected = { verb: "status", socket: "/s", debug: true, json: false, name: "x" };
    expect(client("-s", "/s", "-d", "status", "x")).toEqual(expected as never);
    expect(client("status", "x", "-s", "/s", "-d")).toEqual(expected as never);
    expect(client("status", "--socket", "/s", "x", "--debug")).toEqual(expected as never);
    expect(client("--socket=/s", "status", "-d", "x")).toEqual(expected as never);
    expect(client("-ds", "/s", "status", "x")).toEqual(expected as never);
    expect(client("-ds/s", "status", "x")).toEqual(expected as never);
  });

  test("--json in both positions", () => {
    expect(client("--json", "list").json).toBe(true);
    expect(client("list", "--json").json).toBe(true);
  });

  test("after the verb wins over before it", () => {
    expect(client("-s", "/first", "list", "-s", "/second").socket).toBe("/second");
  });

  test("the README's `zinit init --config … --socket …` works (and -c is honoured, bug #1)", () => {
    expect(parse("init", "--config", "/etc/zinit/", "--socket", "/var/run/zinit.sock")).toEqual({
      kind: "init",
      options: {
        configDir: "/etc/zinit/",
        socket: "/var/run/zinit.sock",
        buffer: 2000,
        container: false,
        debug: false,
        http: null,
        socketMode: 0o600,
        limits: {},
        corsOrigins: [],
        allowHosts: [],
        tokenFile: null,
        compatSocket: null,
        bufferBytes: 4 * 1024 * 1024,
        logDir: null,
        logMaxBytes: 10 * 1024 * 1024,
        logKeep: 5,
        stdoutFormat: "raw",
      },
    });
    expect(
      parse(
        "-d",
        "-s",
        "/z.sock",
        "init",
        "-c",
        "/cfg",
        "-b",
        "50",
        "--container",
        "--http",
        "127.0.0.1:9",
        "--socket-mode",
        "0660",
      ),
    ).toEqual({
      kind: "init",
      options: {
        configDir: "/cfg",
        socket: "/z.sock",
        buffer: 50,
        container: true,
        debug: true,
        http: "127.0.0.1:9",
        socketMode: 0o660,
        limits: {},
        corsOrigins: [],
        allowHosts: [],
        tokenFile: null,
        compatSocket: null,
        bufferBytes: 4 * 1024 * 1024,
        logDir: null,
        logMaxBytes: 10 * 1024 * 1024,
        logKeep: 5,
        stdoutFormat: "raw",
      },
    });
    expect(parse("init")).toEqual({
      kind: "init",
      options: {
        configDir: "/etc/zinit",
        socket: SOCK,
        buffer: 2000,
        container: false,
        debug: false,
        http: null,
        socketMode: 0o600,
        limits: {},
        corsOrigins: [],
        allowHosts: [],
        tokenFile: null,
        compatSocket: null,
        bufferBytes: 4 * 1024 * 1024,
        logDir: null,
        logMaxBytes: 10 * 1024 * 1024,
        logKeep: 5,
        stdoutFormat: "raw",
      },
    });
  });

  test("`--` ends the options", () => {
    expect(client("status", "--", "-weird")).toMatchObject({ name: "-weird" });
    expect(client("--", "status", "x")).toMatchObject({ verb: "status", name: "x" });
  });
});

describe("init: log options", () => {
  test("--buffer-bytes, --log-dir, --log-max-size, --log-keep, --stdout-format", () => {
    const action = parse(
      "init",
      "--buffer-bytes",
      "64M",
      "--log-dir",
      "/var/log/svc",
      "--log-max-size",
      "512k",
      "--log-keep",
      "0",
      "--stdout-format",
      "prefix",
    );
    expect(action).toMatchObject({
      kind: "init",
      options: {
        bufferBytes: 64 * 1024 * 1024,
        logDir: "/var/log/svc",
        logMaxBytes: 512 * 1024,
        logKeep: 0,
        stdoutFormat: "prefix",
      },
    });
    expect(parse("init", "--buffer-bytes", "2097152B")).toMatchObject({
      options: { bufferBytes: 2 * 1024 * 1024 },
    });
    expect(parse("init", "--buffer-bytes", "1GiB")).toMatchObject({
      options: { bufferBytes: 1024 ** 3 },
    });
  });

  test("sizes, counts and formats out of range are clear errors", () => {
    expect(usageError("init", "--buffer-bytes", "100k")).toBe(
      "option --buffer-bytes must be a size from 1048576 to 1073741824 bytes, e.g. 4M (got '100k')",
    );
    expect(usageError("init", "--buffer-bytes", "2G")).toMatch(/^option --buffer-bytes must be/);
    expect(usageError("init", "--log-max-size", "1x")).toMatch(/^option --log-max-size must be/);
    expect(usageError("init", "--log-keep", "1001")).toBe(
      "option --log-keep must be an integer from 0 to 1000 (got '1001')",
    );
    expect(usageError("init", "--stdout-format", "xml")).toBe(
      "option --stdout-format must be raw, prefix or json (got 'xml')",
    );
  });
});

describe("bad command lines", () => {
  test("-b must be a positive integer (upstream panicked, bug #7)", () => {
    for (const bad of ["0", "abc", "-1", "1.5", "1e3", " 5", "99999999999999999999"]) {
      expect(usageError("init", "-b", bad)).toBe(
        `option -b/--buffer must be a positive integer (got '${bad}')`,
      );
    }
    expect(usageError("init", "-b")).toBe("option -b/--buffer needs a value for 'zinit init'");
  });

  test("unknown verbs and options", () => {
    expect(usageError("frobnicate")).toBe("unknown command 'frobnicate' (see 'zinit --help')");
    expect(usageError("--bogus")).toBe("unknown option '--bogus'");
    expect(usageError("status", "x", "-q")).toBe("unknown option '-q' for 'zinit status'");
    expect(usageError("-c", "/x", "init")).toBe("unknown option '-c'");
    expect(usageError("list", "--snapshot")).toBe("unknown option '--snapshot' for 'zinit list'");
    expect(usageError("help", "nope")).toBe("unknown command 'nope' (see 'zinit --help')");
  });

  test("options that need or refuse a value", () => {
    expect(usageError("-s")).toBe("option -s/--socket needs a value");
    expect(usageError("list", "--socket=")).toBe(
      "option -s/--socket needs a value for 'zinit list'",
    );
    expect(usageError("--no-socket")).toBe("option -s/--socket needs a value");
    expect(usageError("list", "--json=yes")).toBe("option --json takes no value for 'zinit list'");
  });
});

describe("help and version", () => {
  test("--help, -h, help VERB anywhere", () => {
    expect(parse("--help")).toEqual({ kind: "help", verb: undefined });
    expect(parse("-h")).toEqual({ kind: "help", verb: undefined });
    expect(parse("status", "-h")).toEqual({ kind: "help", verb: "status" });
    expect(parse("-h", "status")).toEqual({ kind: "help", verb: "status" });
    expect(parse("help")).toEqual({ kind: "help" });
    expect(parse("help", "log")).toEqual({ kind: "help", verb: "log" });
    // Help wins over a missing argument, as in clap.
    expect(parse("kill", "--help")).toEqual({ kind: "help", verb: "kill" });
  });

  test("--version and -V", () => {
    expect(parse("--version")).toEqual({ kind: "version", detailed: false });
    expect(parse("-V")).toEqual({ kind: "version", detailed: false });
    expect(parse("-V", "-d")).toEqual({ kind: "version", detailed: true });
    expect(parse("--version", "--debug")).toEqual({ kind: "version", detailed: true });
  });
});

describe("defaultSocket (upstream bug #3)", () => {
  test("$ZINIT_SOCKET wins", () => {
    expect(defaultSocket({ ZINIT_SOCKET: "/run/z.sock" }, 0)).toBe("/run/z.sock");
    expect(defaultSocket({ ZINIT_SOCKET: "/run/z.sock" }, 1000)).toBe("/run/z.sock");
  });

  test("root uses /var/run/zinit.sock; an empty ZINIT_SOCKET counts as unset", () => {
    expect(defaultSocket({}, 0)).toBe("/var/run/zinit.sock");
    expect(defaultSocket({ ZINIT_SOCKET: "" }, 0)).toBe("/var/run/zinit.sock");
  });

  test("non-root: $XDG_RUNTIME_DIR if it exists, else /tmp", () => {
    const dir = mkdtempSync(join(tmpdir(), "xdg-"));
    try {
      expect(defaultSocket({ XDG_RUNTIME_DIR: dir }, 1000)).toBe(join(dir, "zinit.sock"));
      expect(defaultSocket({ XDG_RUNTIME_DIR: `${dir}/` }, 1000)).toBe(join(dir, "zinit.sock"));
      expect(defaultSocket({ XDG_RUNTIME_DIR: join(dir, "missing") }, 1000)).toBe(
        "/tmp/zinit.sock",
      );
      expect(defaultSocket({}, 1000)).toBe("/tmp/zinit.sock");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("ZINIT_TIMEOUT", () => {
  test("seconds, default 60, 0 = forever", () => {
    expect(timeoutFromEnv(undefined)).toBe(60_000);
    expect(timeoutFromEnv("")).toBe(60_000);
    expect(timeoutFromEnv("2.5")).toBe(2500);
    expect(timeoutFromEnv("0")).toBe(0);
    expect(() => timeoutFromEnv("soon")).toThrow(
      "ZINIT_TIMEOUT must be a number of seconds (got 'soon')",
    );
    expect(() => timeoutFromEnv("-1")).toThrow(UsageError);
  });
});
