// `zinit check [DIR | FILE...]`: the service files checked offline, by the loader the daemon uses
// (schema, unknown keys), plus what only the whole directory shows: `after` names that no file
// defines, and dependency cycles. Like `nginx -t`, for a user's CI: one line per problem,
// `file:line:col: field: message` (warnings prefixed `warning: `), exit code 1 on any error.
// Loaded only for this verb, so the other client verbs stay small.

import { statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { readConfigFile } from "../config/file.ts";
import { suggest } from "../config/keys.ts";
import { ServiceStore, serviceStem } from "../config/store.ts";
import { readYaml } from "../config/yaml.ts";
import { errorText, fsErrorText } from "../core/errors.ts";
import { findCycles } from "../core/graph.ts";
import type { ServiceConfig } from "../core/types.ts";
import type { ClientInvocation } from "./args.ts";
import { print } from "./output.ts";

interface CheckReport {
  /** Service files examined. */
  files: number;
  errors: string[];
  warnings: string[];
}

/** A service that loaded, with where it came from. */
interface Loaded {
  name: string;
  path: string;
  config: ServiceConfig;
}

export function check(paths: readonly string[]): CheckReport {
  const report: CheckReport = { files: 0, errors: [], warnings: [] };
  const named = new Map<string, string[]>(); // directory → the file names given in it
  for (const given of paths) {
    const path = resolve(given);
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch (err) {
      report.errors.push(`${path}: ${fsErrorText(err)}`);
      continue;
    }
    if (isDir) checkDir(path, report);
    else named.set(dirname(path), [...(named.get(dirname(path)) ?? []), basename(path)]);
  }
  for (const [dir, files] of named) checkFiles(dir, files, report);
  return report;
}

/** A config directory's files as `zinit init` loads them; null, reported, if it cannot be read. */
function loadDir(
  store: ServiceStore,
  dir: string,
  report: CheckReport,
): { names: string[]; loaded: ReturnType<ServiceStore["loadAll"]>; services: Loaded[] } | null {
  try {
    const names = store.names();
    const loaded = store.loadAll();
    const services = [...loaded.services].map(([name, config]) => ({
      name,
      config,
      path: loaded.files.get(name) as string,
    }));
    return { names, loaded, services };
  } catch (err) {
    report.errors.push(`${dir}: cannot read the directory: ${fsErrorText(err)}`);
    return null;
  }
}

/** Every service file of a config directory, as `zinit init` loads it. */
function checkDir(dir: string, report: CheckReport): void {
  const all = loadDir(new ServiceStore(dir), dir, report);
  if (!all) return;
  report.files += all.names.length;
  report.errors.push(...all.loaded.errors);
  report.warnings.push(...all.loaded.warnings);
  checkGraph(dir, new Set(all.names), all.services, all.services, report);
}

/**
 * Files given one by one: each is checked as `zinit monitor` would load it from its directory,
 * whose other services are the ones its `after` can name (and close a cycle through).
 */
function checkFiles(dir: string, files: string[], report: CheckReport): void {
  const store = new ServiceStore(dir);
  const others = loadDir(store, dir, report);
  if (!others) return;
  const mine: Loaded[] = [];
  for (const file of files) {
    report.files++;
    try {
      const { config, warnings } = store.loadFile(file);
      report.warnings.push(...warnings);
      mine.push({ name: serviceStem(file) as string, path: join(dir, file), config });
    } catch (err) {
      report.errors.push(errorText(err));
    }
  }
  const graph = new Map<string, Loaded>(others.services.map((s) => [s.name, s]));
  for (const s of mine) graph.set(s.name, s);
  const known = new Set([...others.names, ...mine.map((s) => s.name)]);
  checkGraph(dir, known, mine, [...graph.values()], report);
}

/** `after` names that no file defines, and cycles through any of `checked`. */
function checkGraph(
  dir: string,
  known: ReadonlySet<string>,
  checked: readonly Loaded[],
  all: readonly Loaded[],
  report: CheckReport,
): void {
  for (const s of checked) {
    s.config.after.forEach((dep, i) => {
      if (known.has(dep)) return;
      const near = suggest(dep, [...known]);
      report.errors.push(
        `${where(s.path, ["after", i])}: after[${i}]: unknown service '${dep}' (no ${dep}.yaml or ${dep}.yml in ${dir})${near ? `; did you mean '${near}'?` : ""}`,
      );
    });
  }
  const byName = new Map(all.map((s) => [s.name, s]));
  const mine = new Set(checked.map((s) => s.name));
  const deps = new Map(all.map((s) => [s.name, s.config.after]));
  for (const cycle of findCycles(deps)) {
    if (!cycle.some((name) => mine.has(name))) continue;
    const [first, second] = cycle as [string, string];
    const from = byName.get(first) as Loaded;
    const i = from.config.after.indexOf(second);
    report.errors.push(
      `${where(from.path, ["after", i])}: after[${i}]: dependency cycle: ${cycle.join(" -> ")}`,
    );
  }
}

/** `file:line:col` of a value in a file that loaded a moment ago. */
function where(path: string, keys: (string | number)[]): string {
  try {
    return `${path}:${readYaml(readConfigFile(path), "text").position(keys)}`;
  } catch {
    // Changed since it loaded: the file alone still says where to look.
    return path;
  }
}

export function runCheck(inv: ClientInvocation): number {
  const report = check(inv.paths ?? []);
  if (inv.json) {
    print(`${JSON.stringify(report)}\n`);
  } else {
    for (const line of report.errors) print(`${line}\n`);
    for (const line of report.warnings) print(`warning: ${line}\n`);
    const count = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
    print(
      `${count(report.files, "service file")} checked: ${count(report.errors.length, "error")}, ${count(report.warnings.length, "warning")}\n`,
    );
  }
  return report.errors.length > 0 ? 1 : 0;
}
