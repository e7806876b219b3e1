// The values a service file is made of (text, commands, bounded integers, sizes, probe targets),
// each as a valibot schema that rejects a bad value with one short message and carries its JSON
// Schema as metadata. The message names the value, never the file: schema.ts adds the file, the
// position and the field.

import * as v from "valibot";
import { parseProbeAddress, parseProbeUrl } from "../core/probe.ts";
import { parseSignal, signalName } from "../core/signals.ts";
import type { Command } from "../core/types.ts";
import { isRecord } from "../values.ts";
import { serviceNameError } from "./names.ts";
import { ShlexError, splitWords } from "./shlex.ts";

export type JsonSchema = Record<string, unknown>;

/** Longest accepted `log:` probe pattern: a regular expression runs against every output line. */
export const MAX_PATTERN_LENGTH = 1000;

/** A rejected value: why, and where below the field (a list index, a map key) it is. */
export class Invalid {
  constructor(
    readonly message: string,
    readonly at: readonly { key: string | number; origin?: "key" | "value" }[] = [],
  ) {}
}

export type Parse<T> = (raw: unknown) => T | Invalid;

const isScalar = (value: unknown): value is string | number | boolean =>
  typeof value === "string" || typeof value === "number" || typeof value === "boolean";

/** How a rejected value is shown in a message: short, one line, unambiguous. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a map";
  if (typeof value === "string") {
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  }
  return String(value);
}

type AddIssue = (info: { message: string; path?: [v.IssuePathItem, ...v.IssuePathItem[]] }) => void;

/** Reports `invalid` as an issue of a value whose input was `input`. */
function addInvalid(addIssue: AddIssue, input: unknown, invalid: Invalid): void {
  if (invalid.at.length === 0) {
    addIssue({ message: invalid.message });
    return;
  }
  let container = input;
  const path = invalid.at.map(({ key, origin }) => {
    const value = (container as Record<string | number, unknown> | null)?.[key];
    const item =
      typeof key === "number"
        ? { type: "array", origin: "value", input: container, key, value }
        : { type: "object", origin: origin ?? "value", input: container, key, value };
    container = value;
    return item as v.IssuePathItem;
  });
  addIssue({ message: invalid.message, path: path as [v.IssuePathItem, ...v.IssuePathItem[]] });
}

/** A transformation that may refuse its input with an Invalid. */
export function checkedTransform<I, O>(build: (input: I) => O | Invalid) {
  return v.rawTransform<I, O>(({ dataset, addIssue, NEVER }) => {
    const out = build(dataset.value);
    if (!(out instanceof Invalid)) return out;
    addInvalid(addIssue, dataset.value, out);
    return NEVER;
  });
}

/**
 * A value checked by `parse` and described to JSON Schema by `json`. The JSON Schema converter
 * reads a pipe only up to its first transformation, so what `parse` accepts has to be said.
 */
export function field<T>(json: JsonSchema, parse: Parse<T>) {
  return v.pipe(v.unknown(), v.metadata(json), checkedTransform(parse));
}

/**
 * A map with these entries; anything else (a list, text) is refused with `expected <what>`.
 * Valibot's objects accept lists, hence the check first. The converter cannot see through the
 * check, so the metadata names the object it is to describe instead (build/schema.ts).
 */
export function mapOf<S extends v.GenericSchema<unknown, Record<string, unknown>>>(
  object: S,
  what: string,
) {
  return v.pipe(
    v.unknown(),
    v.metadata({ jsonSchemaOf: object }),
    v.rawTransform<unknown, Record<string, unknown>>(({ dataset, addIssue, NEVER }) => {
      if (isRecord(dataset.value)) return dataset.value;
      addIssue({ message: `expected ${what}, got ${describe(dataset.value)}` });
      return NEVER;
    }),
    object,
  );
}

/** JSON Schema's `if`/`then`, for conditions between keys. */
export const ifThen = (condition: JsonSchema, consequence: JsonSchema): JsonSchema => ({
  if: condition,
  // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword; this object is never awaited.
  then: consequence,
});

/** `key: ~` and a missing key both mean `fallback`. */
export function withDefault<S extends v.GenericSchema>(
  schema: S,
  fallback: v.InferInput<S> | (() => v.InferInput<S>),
) {
  return v.optional(v.nullable(schema, fallback as never), fallback as never);
}

// ---- text and commands ---------------------------------------------------------------------------

export const TEXT_JSON: JsonSchema = { type: ["string", "number", "boolean"] };

/** Any scalar is accepted where text is expected, as serde does (`exec: 123` is "123"). */
export const parseText: Parse<string> = (raw) => {
  if (!isScalar(raw)) return new Invalid(`expected text, got ${describe(raw)}`);
  const text = String(raw);
  // execve(2) and the environment cannot carry NUL: such a value could never work.
  if (text.includes("\0")) return new Invalid("must not contain a NUL byte");
  return text;
};

export const text = field(TEXT_JSON, parseText);

/** A command line as written plus its words, split now so a bad line fails at load. Empty: "". */
export const parseCommand: Parse<Command> = (raw) => {
  if (raw === null || raw === undefined) return { line: "", argv: [] };
  const line = parseText(raw);
  if (line instanceof Invalid) return line;
  if (line === "") return { line, argv: [] };
  let argv: string[];
  try {
    argv = splitWords(line);
  } catch (err) {
    if (!(err instanceof ShlexError)) throw err;
    return new Invalid(`cannot split ${describe(line)}: ${err.message}`);
  }
  if (argv.length === 0) return new Invalid(`no command in ${describe(line)}`);
  if (argv[0] === "") return new Invalid(`empty program name in ${describe(line)}`);
  return { line, argv };
};

/** A command that must be there: `exec`, and the `exec` of a probe. */
export const requiredCommand =
  (what: string): Parse<Command> =>
  (raw) => {
    const command = parseCommand(raw);
    if (!(command instanceof Invalid) && command.line === "") {
      return new Invalid(`missing ${what}`);
    }
    return command;
  };

/** A command line in JSON Schema: text with something in it. */
export const COMMAND_JSON: JsonSchema = { ...TEXT_JSON, pattern: "\\S" };

// ---- integers and sizes --------------------------------------------------------------------------

interface IntRange {
  min: number;
  max: number;
  /** What the number counts, for the "at most" message: "seconds", "ms". */
  unit?: string;
}

/**
 * A whole number in `range`. YAML scalars arrive as text, so digits are read as a number, quoted
 * or not (`shutdown_timeout: "10"`, which upstream refuses).
 */
export function parseInteger(range: IntRange): Parse<number> {
  const unit = range.unit ? ` ${range.unit}` : "";
  return (raw) => {
    const n =
      typeof raw === "number"
        ? raw
        : typeof raw === "string" && /^[0-9]+$/.test(raw)
          ? Number(raw)
          : Number.NaN;
    if (!Number.isSafeInteger(n) || n < 0) {
      return new Invalid(`expected a non-negative integer, got ${describe(raw)}`);
    }
    if (n < range.min) return new Invalid(`must be at least ${range.min}${unit}, got ${n}`);
    if (n > range.max) return new Invalid(`must be at most ${range.max}${unit}, got ${n}`);
    return n;
  };
}

export function intJson(range: IntRange): JsonSchema {
  return {
    anyOf: [
      { type: "integer", minimum: range.min, maximum: range.max },
      { type: "string", pattern: "^[0-9]+$" },
    ],
  };
}

export const int = (range: IntRange) => field(intJson(range), parseInteger(range));

const SIZE_UNITS: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** Bytes, as a number or with a K, M or G suffix (powers of 1024): `log_max_size: 10M`. */
export function parseSize(min: number): Parse<number> {
  return (raw) => {
    const m =
      typeof raw === "number"
        ? [String(raw), String(raw), ""]
        : typeof raw === "string"
          ? /^([0-9]+)([KMG]?)$/i.exec(raw)
          : null;
    const n = m
      ? Number(m[1]) * (SIZE_UNITS[(m[2] ?? "").toUpperCase()] ?? Number.NaN)
      : Number.NaN;
    if (!Number.isSafeInteger(n)) {
      return new Invalid(
        `expected a size in bytes such as 1048576, 512K, 10M or 1G, got ${describe(raw)}`,
      );
    }
    if (n < min) return new Invalid(`must be at least ${min} bytes, got ${n}`);
    return n;
  };
}

export const sizeJson = (min: number): JsonSchema => ({
  anyOf: [
    { type: "integer", minimum: min },
    { type: "string", pattern: "^[0-9]+[KkMmGg]?$" },
  ],
});

// ---- names and signals ---------------------------------------------------------------------------

/** A dependency with an impossible name could never be satisfied: say so now, not "Blocked" forever. */
export const parseServiceRef: Parse<string> = (raw) => {
  const name = parseText(raw);
  if (name instanceof Invalid) return name;
  const error = serviceNameError(name);
  return error === null ? name : new Invalid(`invalid service name ${describe(name)}: ${error}`);
};

export const SERVICE_NAME_JSON: JsonSchema = {
  ...TEXT_JSON,
  pattern: "^(?!\\.\\.?$)[^/\\\\\\u0000-\\u001f\\u007f]+$",
  maxLength: 250,
};

export const parseStopSignal: Parse<number> = (raw) => {
  const name = parseText(raw);
  if (name instanceof Invalid) return name;
  const num = parseSignal(name);
  if (num !== null) return num;
  const hint =
    parseSignal(`SIG${name}`) !== null ? ` (did you mean 'SIG${name.toUpperCase()}'?)` : "";
  return new Invalid(`unknown signal '${name}'${hint}`);
};

/** Every signal name, matched case-insensitively as parseSignal does. */
export const SIGNAL_JSON: JsonSchema = {
  type: "string",
  pattern: `^(?:${Array.from({ length: 31 }, (_, i) =>
    [...signalName(i + 1)].map((c) => (/[A-Z]/.test(c) ? `[${c}${c.toLowerCase()}]` : c)).join(""),
  ).join("|")})$`,
};

// ---- probes ----------------------------------------------------------------------------------------

export const parseTcpTarget: Parse<{ host: string; port: number }> = (raw) => {
  const address = parseText(raw);
  if (address instanceof Invalid) return address;
  const target = parseProbeAddress(address);
  return typeof target === "string" ? new Invalid(target) : target;
};

export const parseHttpTarget: Parse<string> = (raw) => {
  const url = parseText(raw);
  if (url instanceof Invalid) return url;
  const target = parseProbeUrl(url);
  return typeof target === "string" ? new Invalid(target) : url;
};

/** `status: 200` or `status: "200-299"`: the HTTP statuses that pass. */
export const parseStatusRange: Parse<{ min: number; max: number }> = (raw) => {
  const m = isScalar(raw) ? /^([0-9]{3})(?:-([0-9]{3}))?$/.exec(String(raw)) : null;
  const min = Number(m?.[1]);
  const max = Number(m?.[2] ?? m?.[1]);
  if (!m || min < 100 || max > 599 || min > max) {
    return new Invalid(
      `expected an HTTP status such as 200 or a range such as "200-299", got ${describe(raw)}`,
    );
  }
  return { min, max };
};

export const STATUS_JSON: JsonSchema = {
  anyOf: [
    { type: "integer", minimum: 100, maximum: 599 },
    { type: "string", pattern: "^[1-5][0-9]{2}(?:-[1-5][0-9]{2})?$" },
  ],
};

/** A `log:` probe's regular expression, compiled as the shell will compile it. */
export const parsePattern: Parse<string> = (raw) => {
  const pattern = parseText(raw);
  if (pattern instanceof Invalid) return pattern;
  if (pattern === "") return new Invalid("expected a regular expression, got nothing");
  if (pattern.length > MAX_PATTERN_LENGTH) {
    return new Invalid(`must be at most ${MAX_PATTERN_LENGTH} characters, got ${pattern.length}`);
  }
  try {
    new RegExp(pattern);
  } catch (err) {
    return new Invalid(`not a valid regular expression: ${(err as Error).message}`);
  }
  return pattern;
};
