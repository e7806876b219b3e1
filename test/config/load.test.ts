import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadDir, loadService, serviceFilePath } from "../../src/config/load.ts";
import { ConfigFileError } from "../../src/config/schema.ts";

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "zinit-config-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const write = (name: string, text: string) => writeFileSync(join(dir, name), text);

describe("loadDir", () => {
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
      `${dir}/bad.yaml: oneshot: expected true or false, got "maybe"`,
      `${dir}/broken.yaml:2:1: Flow sequence in block collection must be sufficiently indented and end with a ]`,
      `${dir}/empty.yml: exec: missing exec directive`,
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

describe("loadService", () => {
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
      new ConfigFileError(`${dir}/bad.yaml: signal.stop: unknown signal 'SIGFOO'`),
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

describe("serviceFilePath", () => {
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
