import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_CONFIG_BYTES, readConfigFile } from "../../src/config/file.ts";
import { ConfigFileError } from "../../src/config/schema.ts";
import { ServiceStore } from "../../src/config/store.ts";

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "zinit-config-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const write = (name: string, text: string) => writeFileSync(join(dir, name), text);
const loadDir = (path: string) => new ServiceStore(path).loadAll();
const loadService = (path: string, name: string) => new ServiceStore(path).load(name).config;
const serviceFilePath = (path: string, name: string) => new ServiceStore(path).path(name);

describe("loadAll", () => {
  test("loads .yaml and .yml files, sorted by name, names from the file stem", () => {
    write("web.yaml", "exec: web\n");
    write("a.b.yml", "exec: ab\n");
    write(".hidden.yaml", "exec: hidden\n");
    write("README.md", "not a service");
    write("upper.YAML", "exec: ignored, extension is case-sensitive\n");
    write("web.yaml.bak", "exec: ignored\n");
    const { services, errors } = loadDir(dir);
    expect(errors).toEqual([]);
    expect([...services.keys()]).toEqual([".hidden", "a.b", "web"]);
    expect(services.get("a.b")?.argv).toEqual(["ab"]);
    expect(services.get("web")?.exec).toBe("web");
  });

  test("a bad file is one error line and does not stop the others", () => {
    write("good.yaml", "exec: ok\n");
    write("bad.yaml", "exec: a\noneshot: maybe\n");
    write("broken.yaml", "exec: [a\n");
    write("empty.yml", "");
    const { services, errors } = loadDir(dir);
    expect([...services.keys()]).toEqual(["good"]);
    expect(errors).toEqual([
      `${dir}/bad.yaml:2:10: oneshot: expected true or false, got "maybe"`,
      `${dir}/broken.yaml:2:1: Flow sequence in block collection must be sufficiently indented and end with a ]`,
      `${dir}/empty.yml:1:1: exec: missing exec directive`,
    ]);
  });

  test("x.yaml wins over x.yml and the other is reported", () => {
    write("x.yaml", "exec: from-yaml\n");
    write("x.yml", "exec: from-yml\n");
    const { services, errors } = loadDir(dir);
    expect(services.get("x")?.exec).toBe("from-yaml");
    expect(errors).toEqual([`${dir}/x.yml: ignored: ${dir}/x.yaml defines service 'x' too`]);
  });

  test("symlinks are followed; a dangling one is an error line", () => {
    mkdirSync(join(dir, "store"));
    write("store/real.txt", "exec: linked\n");
    symlinkSync(join(dir, "store/real.txt"), join(dir, "linked.yaml"));
    symlinkSync(join(dir, "store/missing.txt"), join(dir, "dangling.yaml"));
    const { services, errors } = loadDir(dir);
    expect([...services.keys()]).toEqual(["linked"]);
    expect(services.get("linked")?.exec).toBe("linked");
    expect(errors).toEqual([`${dir}/dangling.yaml: broken symlink (its target does not exist)`]);
  });

  test("no recursion; directories, FIFOs and odd names are reported, never read", () => {
    mkdirSync(join(dir, "sub"));
    write("sub/inner.yaml", "exec: inner\n");
    mkdirSync(join(dir, "dir.yaml"));
    // A FIFO opened for a blocking read would hang PID 1 forever.
    const mkfifo = Bun.spawnSync(["mkfifo", join(dir, "fifo.yaml")]);
    expect(mkfifo.exitCode).toBe(0);
    write(".yaml", "exec: no name\n");
    write("..yaml", "exec: dot\n");
    const { services, errors } = loadDir(dir);
    expect([...services.keys()]).toEqual([]);
    expect(errors).toEqual([
      `${dir}/.yaml: invalid service name "": must not be empty`,
      `${dir}/..yaml: invalid service name ".": must not be '.'`,
      `${dir}/dir.yaml: not a regular file`,
      `${dir}/fifo.yaml: not a regular file`,
    ]);
  });

  test("oversized and non-UTF-8 files are refused", () => {
    write("big.yaml", `exec: a\n#${"x".repeat(1 << 20)}\n`);
    writeFileSync(
      join(dir, "latin1.yaml"),
      Buffer.from([0x65, 0x78, 0x65, 0x63, 0x3a, 0x20, 0xe9, 0x0a]),
    );
    expect(loadDir(dir).errors).toEqual([
      `${dir}/big.yaml: file is larger than 1048576 bytes`,
      `${dir}/latin1.yaml: file is not valid UTF-8`,
    ]);
  });

  test("file permissions: root reads any file, anyone else gets an EACCES line", () => {
    write("secret.yaml", "exec: a\n");
    chmodSync(join(dir, "secret.yaml"), 0o000);
    const { services, errors } = loadDir(dir);
    if (process.getuid?.() === 0) {
      expect(errors).toEqual([]);
      expect([...services.keys()]).toEqual(["secret"]);
    } else {
      expect(errors).toEqual([`${dir}/secret.yaml: EACCES: permission denied`]);
    }
  });

  test("an unreadable directory throws", () => {
    expect(() => loadDir(join(dir, "nope"))).toThrow(/ENOENT/);
  });
});

describe("load", () => {
  test("<name>.yaml, else <name>.yml", () => {
    write("a.yml", "exec: from-yml\n");
    expect(loadService(dir, "a").exec).toBe("from-yml");
    write("a.yaml", "exec: from-yaml\n");
    expect(loadService(dir, "a").exec).toBe("from-yaml");
  });

  test("a missing service is a not-found ConfigFileError", () => {
    let caught: unknown;
    try {
      loadService(dir, "ghost");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigFileError);
    expect((caught as ConfigFileError).message).toBe(
      `${dir}/ghost.yaml: no such file (nor ghost.yml)`,
    );
    expect((caught as ConfigFileError).notFound).toBe(true);
  });

  test("an invalid file throws its one-line error", () => {
    write("bad.yaml", "exec: a\nsignal: {stop: SIGFOO}\n");
    expect(() => loadService(dir, "bad")).toThrow(
      new ConfigFileError(`${dir}/bad.yaml:2:16: signal.stop: unknown signal 'SIGFOO'`),
    );
  });

  test("names that could leave the directory are refused before any file access", () => {
    write("ok.yaml", "exec: a\n");
    expect(() => loadService(join(dir, "sub"), "../ok")).toThrow(
      new ConfigFileError(`invalid service name "../ok": must not contain '/'`),
    );
    expect(() => loadService(dir, "..")).toThrow(
      new ConfigFileError(`invalid service name "..": must not be '..'`),
    );
  });
});

describe("path", () => {
  test("finds .yaml first, then .yml, including a dangling symlink", () => {
    expect(serviceFilePath(dir, "a")).toBeNull();
    write("a.yml", "exec: a\n");
    expect(serviceFilePath(dir, "a")).toBe(join(dir, "a.yml"));
    write("a.yaml", "exec: a\n");
    expect(serviceFilePath(dir, "a")).toBe(join(dir, "a.yaml"));
    symlinkSync(join(dir, "nowhere"), join(dir, "d.yaml"));
    expect(serviceFilePath(dir, "d")).toBe(join(dir, "d.yaml"));
  });

  test("never returns a path for an invalid name", () => {
    write("x.yaml", "exec: a\n");
    expect(serviceFilePath(join(dir, "sub"), "../x")).toBeNull();
    expect(serviceFilePath(dir, "")).toBeNull();
  });
});

describe("the size limit does not trust stat", () => {
  test("a symlink to /proc/self/pagemap (a 'regular file' of size 0) is refused, by name", () => {
    symlinkSync("/proc/self/pagemap", join(dir, "pagemap.yaml"));
    write("ok.yaml", "exec: a\n");
    const { services, errors } = loadDir(dir);
    expect([...services.keys()]).toEqual(["ok"]);
    expect(errors).toEqual([`${dir}/pagemap.yaml: file is larger than 1048576 bytes`]);
    expect(() => loadService(dir, "pagemap")).toThrow(
      new ConfigFileError(`${dir}/pagemap.yaml: file is larger than 1048576 bytes`),
    );
  });

  test("exactly at the limit loads; one byte more does not", () => {
    const exact = `exec: a\n#${"x".repeat(MAX_CONFIG_BYTES - 10)}\n`;
    expect(Buffer.byteLength(exact)).toBe(MAX_CONFIG_BYTES);
    write("exact.yaml", exact);
    write("over.yaml", `${exact} `);
    const { services, errors } = loadDir(dir);
    expect([...services.keys()]).toEqual(["exact"]);
    expect(errors).toEqual([`${dir}/over.yaml: file is larger than 1048576 bytes`]);
  });

  test("readConfigFile keeps at most the limit, whatever the file grows to", () => {
    write("seven.txt", "1234567");
    expect(readConfigFile(join(dir, "seven.txt"), 7)).toBe("1234567");
    expect(() => readConfigFile(join(dir, "seven.txt"), 6)).toThrow("file is larger than 6 bytes");
    expect(readConfigFile(join(dir, "seven.txt"), 0x10000)).toBe("1234567");
  });
});

describe("what the store reports", () => {
  test("unknown keys load, with one warning each naming file, position and the nearest key", () => {
    write(
      "web.yaml",
      "exec: a\nshutdown_timout: 30\nonshot: true\nname: web\nsignal: {stpo: SIGINT}\n",
    );
    const said: string[] = [];
    const store = new ServiceStore(dir, { report: (level, line) => said.push(`${level} ${line}`) });
    const { services, errors, warnings } = store.loadAll();
    expect(errors).toEqual([]);
    expect(services.get("web")?.shutdownTimeout).toBe(10);
    expect(warnings).toEqual([
      `${dir}/web.yaml:2:1: shutdown_timout: unknown key, ignored; did you mean 'shutdown_timeout'?`,
      `${dir}/web.yaml:3:1: onshot: unknown key, ignored; did you mean 'oneshot'?`,
      `${dir}/web.yaml:4:1: name: unknown key, ignored`,
      `${dir}/web.yaml:5:10: signal.stpo: unknown key, ignored; did you mean 'stop'?`,
    ]);
    expect(said).toEqual(warnings.map((w) => `warn ${w}`));
    said.length = 0;
    expect(store.load("web").warnings).toEqual(warnings);
    expect(said).toEqual(warnings.map((w) => `warn ${w}`));
  });

  test("a skipped file is reported as at start-up, by loadAll and by load", () => {
    write("bad.yaml", "exec: a\noneshot: maybe\n");
    const said: string[] = [];
    const store = new ServiceStore(dir, { report: (level, line) => said.push(`${level} ${line}`) });
    const line = `${dir}/bad.yaml:2:10: oneshot: expected true or false, got "maybe"`;
    expect(store.loadAll().errors).toEqual([line]);
    expect(() => store.load("bad")).toThrow(new ConfigFileError(line));
    expect(() => store.load("ghost")).toThrow(ConfigFileError);
    expect(said).toEqual([
      `error skipping service file: ${line}`,
      `error skipping service file: ${line}`,
      `error skipping service file: ${dir}/ghost.yaml: no such file (nor ghost.yml)`,
    ]);
  });
});

describe("paths in a file are taken relative to the config directory", () => {
  test("dir and log_file, relative or absolute", () => {
    write("a.yaml", "exec: a\ndir: srv\nlog: file\nlog_file: logs/a.log\n");
    write("b.yaml", "exec: b\ndir: /var/b\nlog: file\nlog_file: /var/log/b.log\n");
    write("c.yaml", "exec: c\nlog: file\n");
    const { services } = loadDir(dir);
    expect(services.get("a")?.dir).toBe(join(dir, "srv"));
    expect(services.get("a")?.logFile.path).toBe(join(dir, "logs/a.log"));
    expect(services.get("b")?.dir).toBe("/var/b");
    expect(services.get("b")?.logFile.path).toBe("/var/log/b.log");
    expect(services.get("c")?.dir).toBe("/");
    expect(services.get("c")?.logFile.path).toBeNull();
  });
});
