// YAML output byte-compatible with upstream's CLI, which prints with serde_yaml 0.8 through the
// yaml-rust 0.4 emitter: a `---` line, 2-space block indentation, compact `- key: value` sequence
// items, `{}`/`[]` for empty collections, `~` for null, and double quotes only where yaml-rust's
// `need_quotes` asks for them. Scripts grep this output, so the rules are reproduced exactly.

/** A float field (upstream `f32`): always printed with a fraction or exponent, e.g. `0.0`. */
export class Real {
  constructor(readonly value: number) {}
}

export type YamlValue =
  | null
  | boolean
  | number
  | string
  | Real
  | YamlValue[]
  | Map<string, YamlValue>;

const RESERVED = new Set([
  "yes",
  "Yes",
  "YES",
  "no",
  "No",
  "NO",
  "True",
  "TRUE",
  "true",
  "False",
  "FALSE",
  "false",
  "on",
  "On",
  "ON",
  "off",
  "Off",
  "OFF",
  "null",
  "Null",
  "NULL",
  "~",
]);

// What Rust's `str::parse::<f64>()` accepts (which covers `parse::<i64>()` too).
const NUMERIC = /^[+-]?(?:inf|infinity|nan|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)$/i;
const QUOTE_FIRST = /^[&*?|\-<>=!%@]/;
// yaml-rust's list, plus the control characters it forgets (BEL, BS, VT, FF, ESC, DEL): those
// would otherwise reach the terminal raw, and escaping them keeps the document valid YAML.
const QUOTE_ANYWHERE = /[:{}[\],#`"'\\\x00-\x1f\x7f]/;

export function needsQuotes(s: string): boolean {
  return (
    s === "" ||
    s.startsWith(" ") ||
    s.endsWith(" ") ||
    QUOTE_FIRST.test(s) ||
    QUOTE_ANYWHERE.test(s) ||
    RESERVED.has(s) ||
    s.startsWith(".") ||
    s.startsWith("0x") ||
    NUMERIC.test(s)
  );
}

const NAMED_ESCAPES: Record<string, string> = {
  '"': '\\"',
  "\\": "\\\\",
  "\b": "\\b",
  "\t": "\\t",
  "\n": "\\n",
  "\f": "\\f",
  "\r": "\\r",
};

/** yaml-rust's `escape_str`: JSON-style escapes, `\u00XX` (lowercase hex) for other controls. */
function escapeString(s: string): string {
  const escaped = s.replace(/["\\\x00-\x1f\x7f]/g, (c) => {
    return NAMED_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
  return `"${escaped}"`;
}

export function scalarString(s: string): string {
  return needsQuotes(s) ? escapeString(s) : s;
}

/**
 * ryu's rendering of an `f32`: the shortest digits that read back as the same f32, laid out like
 * JavaScript does (same thresholds) but with `.0` on whole numbers and no `+` in exponents.
 */
export function formatReal(value: number): string {
  if (Number.isNaN(value)) return ".nan";
  if (value === Number.POSITIVE_INFINITY) return ".inf";
  if (value === Number.NEGATIVE_INFINITY) return "-.inf";
  const f = Math.fround(value);
  if (!Number.isFinite(f)) return f > 0 ? ".inf" : "-.inf";
  if (f === 0) return Object.is(f, -0) ? "-0.0" : "0.0";
  let shortest = f;
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(f.toPrecision(digits));
    if (Math.fround(candidate) === f) {
      shortest = candidate;
      break;
    }
  }
  const text = String(shortest);
  if (text.includes("e")) return text.replace("e+", "e");
  return text.includes(".") ? text : `${text}.0`;
}

function scalar(value: null | boolean | number | string | Real): string {
  if (value === null) return "~";
  if (value instanceof Real) return formatReal(value.value);
  if (typeof value === "number") {
    return Number.isInteger(value) ? String(value) : formatReal(value);
  }
  if (typeof value === "boolean") return value ? "true" : "false";
  return scalarString(value);
}

const isCollection = (v: YamlValue): v is YamlValue[] | Map<string, YamlValue> =>
  Array.isArray(v) || v instanceof Map;

const isEmpty = (v: YamlValue[] | Map<string, YamlValue>) =>
  Array.isArray(v) ? v.length === 0 : v.size === 0;

/** Mirrors yaml-rust's emitter state: `level` starts at -1 and write_indent prints 2×level. */
class Emitter {
  out = "";
  private level = -1;

  private indent(): void {
    if (this.level > 0) this.out += "  ".repeat(this.level);
  }

  node(v: YamlValue): void {
    if (Array.isArray(v)) this.array(v);
    else if (v instanceof Map) this.map(v);
    else this.out += scalar(v);
  }

  private array(items: YamlValue[]): void {
    if (items.length === 0) {
      this.out += "[]";
      return;
    }
    this.level++;
    items.forEach((item, i) => {
      if (i > 0) {
        this.out += "\n";
        this.indent();
      }
      this.out += "-";
      this.value(true, item);
    });
    this.level--;
  }

  private map(entries: Map<string, YamlValue>): void {
    if (entries.size === 0) {
      this.out += "{}";
      return;
    }
    this.level++;
    let first = true;
    for (const [key, item] of entries) {
      if (!first) {
        this.out += "\n";
        this.indent();
      }
      first = false;
      this.out += `${scalarString(key)}:`;
      this.value(false, item);
    }
    this.level--;
  }

  /** After `-` (inline) collections start on the same line; after `key:` on the next one. */
  private value(inline: boolean, v: YamlValue): void {
    if (isCollection(v)) {
      if (inline || isEmpty(v)) {
        this.out += " ";
      } else {
        this.out += "\n";
        this.level++;
        this.indent();
        this.level--;
      }
      this.node(v);
    } else {
      this.out += ` ${scalar(v)}`;
    }
  }
}

/** One document as upstream prints it: `---\n…\n`. */
export function toYaml(value: YamlValue): string {
  const emitter = new Emitter();
  emitter.node(value);
  return `---\n${emitter.out}\n`;
}

/**
 * Converts parsed JSON for printing. Objects keep their key order (callers sort where upstream's
 * order is random); whole numbers print as integers, others as floats.
 */
export function fromJson(value: unknown): YamlValue {
  if (value === null || value === undefined) return null;
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isInteger(value) ? value : new Real(value);
  if (Array.isArray(value)) return value.map(fromJson);
  if (typeof value === "object") {
    return new Map(Object.entries(value).map(([k, v]) => [k, fromJson(v)]));
  }
  return String(value);
}
