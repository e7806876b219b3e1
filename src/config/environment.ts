// The environment of a service: zinit's own, overlaid by /etc/environment, overlaid by the
// service's `env`, as upstream does (docs/upstream.md, "Service environment").

import { fsErrorText } from "../core/errors.ts";
import { readConfigFile } from "./file.ts";

const ETC_ENVIRONMENT = "/etc/environment";

/**
 * Parses /etc/environment as upstream does (each line trimmed, `#` lines skipped, split at the
 * first `=`, `KEY` alone meaning ""), without its bug of turning a blank line into a variable
 * with an empty name. Beyond upstream, and because that is what people write in this file (it
 * is often shared with shells and pam_env): a leading `export ` is dropped (`export NAME` with
 * no value is skipped), whitespace around the name is ignored, and one pair of matching quotes
 * around the value is removed. There is no interpolation. Lines without a usable name are
 * skipped. A later line wins over an earlier one.
 */
export function parseEnvironment(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    let line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const exported = /^export[ \t]+/.exec(line);
    if (exported) line = line.slice(exported[0].length);
    const eq = line.indexOf("=");
    // `export NAME` in a shell exports the value NAME already has: nothing to set here.
    if (exported && eq === -1) continue;
    const key = (eq === -1 ? line : line.slice(0, eq)).trim();
    let value = eq === -1 ? "" : line.slice(eq + 1);
    if (key === "" || key.includes("\0") || value.includes("\0")) continue;
    const first = value[0];
    if (value.length >= 2 && (first === '"' || first === "'") && value.endsWith(first)) {
      value = value.slice(1, -1);
    }
    // defineProperty: a variable called `__proto__` must stay an ordinary entry.
    Object.defineProperty(env, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return env;
}

/**
 * Reads and parses `path`. A missing file is an empty environment; any other failure is passed
 * to `report` (one line, as upstream logs it) and also yields an empty environment, since a bad
 * /etc/environment must not keep the system from booting.
 */
export function readEnvironment(
  path = ETC_ENVIRONMENT,
  report: (message: string) => void = () => {},
): Record<string, string> {
  let text: string;
  try {
    text = readConfigFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      report(`failed to load ${path} file: ${fsErrorText(err)}`);
    }
    return {};
  }
  return parseEnvironment(text);
}

/** zinit's environment overlaid by /etc/environment, overlaid by the service's own `env`. */
export function serviceEnv(
  base: Record<string, string>,
  etcEnv: Record<string, string>,
  svcEnv: Record<string, string>,
): Record<string, string> {
  return { ...base, ...etcEnv, ...svcEnv };
}
