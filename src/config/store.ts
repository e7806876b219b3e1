// The service files of one config directory, and the only code that touches them: discovery and
// loading (at start-up, for `monitor`, for `zinit check`), and the file methods of the API
// (`service_get`, `service_create`, `service_delete`). Unlike upstream, `.yml` files and
// symlinked files are loaded too, a bad file never stops the others, `service_create` validates
// and never clobbers. Every call is synchronous: node:fs/promises would make the runtime start
// threads (which a full pids cgroup turns into an abort of PID 1), and a create or delete done
// within one turn of the event loop cannot be cut in half by a shutdown.

import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fsyncSync,
  linkSync,
  lstatSync,
  openSync,
  readdirSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, join, resolve } from "node:path";
import { stringify } from "yaml";
import { fsErrorText } from "../core/errors.ts";
import type { ServiceConfig } from "../core/types.ts";
import { readConfigFile } from "./file.ts";
import { serviceNameError } from "./names.ts";
import {
  ConfigFileError,
  type ParsedService,
  parseService,
  validateServiceObject,
} from "./schema.ts";
import { readYaml, YamlError } from "./yaml.ts";

/** A service is `NAME.yaml`, else `NAME.yml`; when both exist, `.yaml` wins. */
const SERVICE_EXTENSIONS = [".yaml", ".yml"] as const;

/** The service name of a file name, or null if the file is not a service file. */
export function serviceStem(fileName: string): string | null {
  const ext = SERVICE_EXTENSIONS.find((e) => fileName.endsWith(e));
  return ext ? fileName.slice(0, -ext.length) : null;
}

interface LoadResult {
  services: Map<string, ServiceConfig>;
  /** The file each service was loaded from. */
  files: Map<string, string>;
  /** One line per file that was skipped, naming the file and why. */
  errors: string[];
  /** One line per oddity in a file that loaded (an unknown key). */
  warnings: string[];
}

/** Why a file method failed; the API turns it into upstream's error object. */
type StoreFailure =
  | "notFound" // no NAME.yaml nor NAME.yml
  | "exists" // create: a file of that name is already there
  | "read" // get: the file can't be read
  | "parse" // get: not YAML, or nothing in it
  | "convert" // get: YAML whose value can't be built
  | "serialize" // create: the content can't be written as YAML
  | "create" // create: the file can't be created
  | "write" // create: the file can't be written
  | "delete"; // delete: the file can't be removed

export class StoreError extends Error {
  constructor(
    readonly failure: StoreFailure,
    /** What the OS or the parser said, outermost first. */
    readonly causes: string[] = [],
  ) {
    super(`${failure}${causes.length > 0 ? `: ${causes.join(": ")}` : ""}`);
    this.name = "StoreError";
  }
}

type Reporter = (level: "warn" | "error", message: string) => void;

interface StoreOptions {
  /** zinit's log: every skipped file and every warning of a load or a create, one line each. */
  report?: Reporter;
}

const errnoOf = (err: unknown) => (err as NodeJS.ErrnoException | null)?.code;

export class ServiceStore {
  /** Absolute path of the config directory. */
  readonly dir: string;
  private readonly report: Reporter;

  constructor(dir: string, opts: StoreOptions = {}) {
    this.dir = resolve(dir);
    this.report = opts.report ?? (() => {});
  }

  // ---- loading -----------------------------------------------------------------------------------

  /** Every service file (not recursive), sorted by name. Throws only if the directory can't be read. */
  loadAll(): LoadResult {
    const result: LoadResult = { services: new Map(), files: new Map(), errors: [], warnings: [] };
    for (const [name, [file, ...shadowed]] of this.listFiles()) {
      const path = join(this.dir, file as string);
      for (const other of shadowed) {
        result.errors.push(
          `${join(this.dir, other)}: ignored: ${path} defines service '${name}' too`,
        );
      }
      try {
        const { config, warnings } = this.loadFile(file as string);
        result.services.set(name, config);
        result.files.set(name, path);
        result.warnings.push(...warnings);
      } catch (err) {
        result.errors.push(err instanceof Error ? err.message : String(err));
      }
    }
    for (const error of result.errors) this.report("error", `skipping service file: ${error}`);
    for (const warning of result.warnings) this.report("warn", warning);
    return result;
  }

  /** Loads `NAME.yaml`, else `NAME.yml` (for `monitor`). Throws ConfigFileError. */
  load(name: string): ParsedService {
    try {
      const nameError = serviceNameError(name);
      if (nameError) {
        throw new ConfigFileError(`invalid service name ${JSON.stringify(name)}: ${nameError}`);
      }
      const path = this.path(name);
      if (!path) {
        throw new ConfigFileError(
          `${join(this.dir, `${name}.yaml`)}: no such file (nor ${name}.yml)`,
          true,
        );
      }
      const parsed = this.loadFile(basename(path));
      for (const warning of parsed.warnings) this.report("warn", warning);
      return parsed;
    } catch (err) {
      this.report("error", `skipping service file: ${err instanceof Error ? err.message : err}`);
      throw err;
    }
  }

  /**
   * Parses one file of the directory, named by its file name. A relative `dir` or `log_file` is
   * taken relative to the config directory (as upstream, whose working directory it is); an
   * empty `dir` means "/". Throws ConfigFileError.
   */
  loadFile(fileName: string): ParsedService {
    const path = join(this.dir, fileName);
    const name = serviceStem(fileName);
    if (name === null)
      throw new ConfigFileError(`${path}: not a service file (NAME.yaml or NAME.yml)`);
    const nameError = serviceNameError(name);
    if (nameError) {
      throw new ConfigFileError(
        `${path}: invalid service name ${JSON.stringify(name)}: ${nameError}`,
      );
    }
    const { config, warnings } = parseService(this.readFile(path), path);
    const logPath = config.logFile.path;
    return {
      config: {
        ...config,
        dir: config.dir === "" ? "/" : resolve(this.dir, config.dir),
        logFile: { ...config.logFile, path: logPath === null ? null : resolve(this.dir, logPath) },
      },
      warnings,
    };
  }

  /** The names of the services in the directory, sorted. */
  names(): string[] {
    return [...this.listFiles().keys()];
  }

  /** The path of the existing `NAME.yaml` or `NAME.yml` (a dangling symlink counts). */
  path(name: string): string | null {
    // Never build a path from a name that could leave the directory.
    if (serviceNameError(name)) return null;
    return this.existing(name)[0] ?? null;
  }

  /** Service name → its file names, `.yaml` first; the first one is the service's file. */
  private listFiles(): Map<string, string[]> {
    const stems = new Map<string, string[]>();
    for (const file of readdirSync(this.dir).sort()) {
      const stem = serviceStem(file);
      if (stem === null) continue;
      // `.yaml` sorts before `.yml`, so it comes first and wins.
      stems.set(stem, [...(stems.get(stem) ?? []), file]);
    }
    return new Map([...stems].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  private existing(name: string): string[] {
    const found: string[] = [];
    for (const ext of SERVICE_EXTENSIONS) {
      const path = join(this.dir, name + ext);
      try {
        lstatSync(path);
        found.push(path);
      } catch {
        // absent
      }
    }
    return found;
  }

  private readFile(path: string): string {
    try {
      return readConfigFile(path);
    } catch (err) {
      const missing = errnoOf(err) === "ENOENT";
      const why =
        missing && isSymlink(path)
          ? "broken symlink (its target does not exist)"
          : fsErrorText(err);
      throw new ConfigFileError(`${path}: ${why}`, missing);
    }
  }

  // ---- the file methods of the API -------------------------------------------------------------

  /** `service_get`: the file's YAML as a JSON value. Throws StoreError. */
  get(name: string): unknown {
    const path = this.path(name);
    if (path === null) throw new StoreError("notFound");
    let text: string;
    try {
      text = readConfigFile(path);
    } catch (err) {
      // A dangling symlink: upstream's `exists()` follows links, so this is "not found" too.
      if (errnoOf(err) === "ENOENT") throw new StoreError("notFound");
      throw new StoreError("read", [fsErrorText(err)]);
    }
    try {
      const file = readYaml(text, "json");
      // Upstream fails on a file with no document; the loader says what such a file lacks.
      if (file.empty) parseService(text, path);
      return file.value;
    } catch (err) {
      if (err instanceof ConfigFileError) throw new StoreError("parse", [err.message]);
      if (!(err instanceof YamlError)) throw err;
      const cause = `${path}${err.position ? `:${err.position}` : ""}: ${err.message}`;
      throw new StoreError(err.stage === "syntax" ? "parse" : "convert", [cause]);
    }
  }

  /**
   * `service_create`: validates `content` like a service file (throws ConfigFileError), then
   * writes it as `NAME.yaml`, atomically, never replacing a `NAME.yaml` or `NAME.yml`. The
   * service is not monitored. Throws StoreError.
   */
  create(name: string, content: Record<string, unknown>): void {
    if (this.path(name) !== null) throw new StoreError("exists");
    const { warnings } = validateServiceObject(content, "content");
    let text: string;
    try {
      text = serviceYaml(content);
    } catch (err) {
      throw new StoreError("serialize", [err instanceof Error ? err.message : String(err)]);
    }
    this.writeNew(join(this.dir, `${name}.yaml`), text);
    for (const warning of warnings) this.report("warn", `service_create '${name}': ${warning}`);
  }

  /** `service_delete`: removes `NAME.yaml` and `NAME.yml`. Throws StoreError. */
  delete(name: string): void {
    const paths = serviceNameError(name) ? [] : this.existing(name);
    if (paths.length === 0) throw new StoreError("notFound");
    // Both, when both exist: otherwise the `.yml` one would load as the service next time.
    for (const path of paths) {
      try {
        unlinkSync(path);
      } catch (err) {
        if (errnoOf(err) === "ENOENT") continue;
        throw new StoreError("delete", [fsErrorText(err)]);
      }
    }
    this.syncDir();
  }

  private writeNew(finalPath: string, text: string): void {
    // Not derived from the name: a 250-byte name plus a suffix would exceed NAME_MAX. Hidden and
    // without a .yaml/.yml ending, the loader never picks it up.
    const tmpPath = join(
      this.dir,
      `.zinit-create-${process.pid}-${randomBytes(8).toString("hex")}.tmp`,
    );
    let fd: number;
    try {
      fd = openSync(tmpPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
    } catch (err) {
      throw new StoreError("create", [fsErrorText(err)]);
    }
    try {
      try {
        const bytes = Buffer.from(text);
        for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
        fsyncSync(fd);
      } catch (err) {
        throw new StoreError("write", [fsErrorText(err)]);
      } finally {
        closeSync(fd);
      }
      try {
        // link(2) fails with EEXIST instead of replacing: a file that appeared since the check is
        // never clobbered, and readers only ever see the complete file.
        linkSync(tmpPath, finalPath);
      } catch (err) {
        if (errnoOf(err) === "EEXIST") throw new StoreError("exists");
        throw new StoreError("create", [fsErrorText(err)]);
      }
    } finally {
      try {
        unlinkSync(tmpPath);
      } catch {
        // already gone
      }
    }
    this.syncDir();
  }

  /** Makes a new or removed directory entry durable; a failure leaves a valid state, so it is ignored. */
  private syncDir(): void {
    let fd: number | null = null;
    try {
      fd = openSync(this.dir, constants.O_RDONLY | constants.O_DIRECTORY);
      fsyncSync(fd);
    } catch {
      // Some filesystems refuse fsync on directories; the file itself is already synced.
    } finally {
      if (fd !== null) closeSync(fd);
    }
  }
}

/** `---`, keys sorted at every level, no line folding: what serde_yaml wrote for upstream. */
function serviceYaml(content: Record<string, unknown>): string {
  return `---\n${stringify(content, { sortMapEntries: true, lineWidth: 0 })}`;
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
