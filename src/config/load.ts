// Discovery of service files in the config directory. Unlike upstream (zinit-upstream.md §2.1,
// §13 #23) `.yml` files and symlinked files are loaded too; a bad file never stops the others.

import { lstatSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ServiceConfig } from "../core/types.ts";
import { fsErrorText, readConfigFile } from "./file.ts";
import { serviceNameError } from "./names.ts";
import { ConfigFileError, parseService } from "./schema.ts";

export interface LoadResult {
  services: Map<string, ServiceConfig>;
  /** One line per file that was skipped, naming the file and why. */
  errors: string[];
}

const EXTENSIONS = [".yaml", ".yml"] as const;

/** Every service file in `dir` (not recursive), sorted by name. Throws only if `dir` can't be read. */
export function loadDir(dir: string): LoadResult {
  const stems = new Map<string, string[]>();
  for (const file of readdirSync(dir)) {
    const ext = EXTENSIONS.find((e) => file.endsWith(e));
    if (!ext) continue;
    const stem = file.slice(0, -ext.length);
    stems.set(stem, [...(stems.get(stem) ?? []), file]);
  }
  const services = new Map<string, ServiceConfig>();
  const errors: string[] = [];
  for (const name of [...stems.keys()].sort()) {
    // `.yaml` sorts before `.yml`, so it is first and wins.
    const [file, ...shadowed] = (stems.get(name) ?? []).sort();
    if (!file) continue;
    const path = join(dir, file);
    for (const other of shadowed) {
      errors.push(`${join(dir, other)}: ignored: ${path} defines service '${name}' too`);
    }
    const nameError = serviceNameError(name);
    if (nameError) {
      errors.push(`${path}: invalid service name ${JSON.stringify(name)}: ${nameError}`);
      continue;
    }
    try {
      services.set(name, loadFile(dir, path));
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err));
    }
  }
  return { services, errors };
}

/** Loads `<dir>/<name>.yaml`, else `<dir>/<name>.yml`. Throws ConfigFileError. */
export function loadService(dir: string, name: string): ServiceConfig {
  const nameError = serviceNameError(name);
  if (nameError) {
    throw new ConfigFileError(`invalid service name ${JSON.stringify(name)}: ${nameError}`);
  }
  const path = serviceFilePath(dir, name);
  if (!path) {
    throw new ConfigFileError(`${join(dir, `${name}.yaml`)}: no such file (nor ${name}.yml)`, true);
  }
  return loadFile(dir, path);
}

/** The path of the existing `<name>.yaml` or `<name>.yml` in `dir` (a dangling symlink counts). */
export function serviceFilePath(dir: string, name: string): string | null {
  // Never build a path from a name that could leave the directory.
  if (serviceNameError(name)) return null;
  for (const ext of EXTENSIONS) {
    const path = join(dir, name + ext);
    try {
      lstatSync(path);
      return path;
    } catch {
      // try the next extension
    }
  }
  return null;
}

/** Parses one file; a relative `dir` is taken relative to the config directory, empty means "/". */
function loadFile(configDir: string, path: string): ServiceConfig {
  let text: string;
  try {
    text = readConfigFile(path);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
    const why =
      missing && isSymlink(path) ? "broken symlink (its target does not exist)" : fsErrorText(err);
    throw new ConfigFileError(`${path}: ${why}`, missing);
  }
  const config = parseService(text, path);
  return { ...config, dir: config.dir === "" ? "/" : resolve(configDir, config.dir) };
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
