// The one way service files are read as YAML, for the loader (every scalar kept as the text
// written, as upstream's serde does) and for `service_get` (YAML 1.2 types, as upstream converts
// a file to JSON). Both get the same limits, the same one-line errors with a line and column, and
// a way back from a path in the decoded value to where it is written in the file.

import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  type ScalarTag,
  visit,
} from "yaml";

/** `text`: every scalar is a string except plain true/false and null (serde_yaml 0.8). `json`: YAML 1.2 core types. */
type YamlTyping = "text" | "json";

/** Longest alias expansion accepted: a "billion laughs" file must not exhaust PID 1's memory. */
const MAX_ALIAS_COUNT = 100;

/** Where a rejected part of a document is: keys of maps, indexes of lists. */
export type PathKey = string | number;

export class YamlError extends Error {
  constructor(
    message: string,
    /** `line:col`, when the error has a place in the text. */
    readonly position: string | null,
    /** Not YAML at all, or YAML whose value can't be built (an alias bomb, a missing anchor). */
    readonly stage: "syntax" | "value",
  ) {
    super(message);
    this.name = "YamlError";
  }
}

export interface YamlFile {
  /** The decoded document; null for a document with nothing in it. */
  value: unknown;
  /** The text holds no document at all (empty, only comments, or a bare `---`). */
  empty: boolean;
  /**
   * `line:col` of the value at `path` (of its key, for `origin: "key"`), or of the nearest
   * enclosing node that exists: a missing key is reported where its map is.
   */
  position(path: readonly PathKey[], origin?: "key" | "value"): string;
}

// Upstream's serde_yaml 0.8 rather than YAML 1.2: only plain lowercase `true`/`false` are
// booleans and only `~`/`null`/empty are null. Every other scalar stays the text as written, so
// `PORT: 08080` is "08080" and `exec: 1.0` is "1.0", never a reformatted number.
const nullTag: ScalarTag = {
  tag: "tag:yaml.org,2002:null",
  default: true,
  test: /^(?:~|null|Null|NULL)?$/,
  identify: (value) => value === null,
  resolve: () => null,
};
const boolTag: ScalarTag = {
  tag: "tag:yaml.org,2002:bool",
  default: true,
  test: /^(?:true|false)$/,
  identify: (value) => typeof value === "boolean",
  resolve: (source) => source === "true",
};

/** Parses one YAML document. Throws YamlError (one line, with its position when known). */
export function readYaml(text: string, typing: YamlTyping): YamlFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    ...(typing === "text" ? { schema: "failsafe", customTags: [nullTag, boolTag] } : {}),
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
    // "error", not "silent": silent also drops errors such as a second document.
    logLevel: "error",
  });
  const at = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return `${line}:${col}`;
  };
  const error = doc.errors[0];
  if (error) {
    throw new YamlError(
      withHint(oneLine(error.message), error.code, text, error.pos[0]),
      at(error.pos[0]),
      "syntax",
    );
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    const message = oneLine(err instanceof Error ? err.message : err);
    const alias = unresolvedAlias(doc, message);
    throw new YamlError(message, alias?.range ? at(alias.range[0]) : null, "value");
  }
  return {
    value: value ?? null,
    empty: isEmpty(doc),
    position: (path, origin = "value") => at(locate(doc, path, origin)),
  };
}

function isEmpty(doc: Document): boolean {
  const c = doc.contents;
  if (c === null) return true;
  // A bare `---` is an empty plain scalar.
  return isScalar(c) && c.value === null && c.range?.[0] === c.range?.[1];
}

/** Offset of the node at `path`, or of the deepest node on the way there. */
function locate(doc: Document, path: readonly PathKey[], origin: "key" | "value"): number {
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    if (isAlias(node)) node = node.resolve(doc);
    const key = path[i];
    let next: unknown;
    let keyNode: unknown;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(key));
      next = pair?.value;
      keyNode = pair?.key;
    } else if (isSeq(node) && typeof key === "number") {
      next = node.items[key];
    }
    const last = i === path.length - 1;
    const start = rangeStart(last && origin === "key" && keyNode ? keyNode : next);
    // `key: ` with nothing after it has no value node: its key says where it is.
    const fallback = rangeStart(keyNode);
    if (start === null && fallback === null) break;
    offset = start ?? (fallback as number);
    if (next === undefined || next === null) break;
    node = next;
  }
  return offset;
}

function rangeStart(node: unknown): number | null {
  const range = (node as Node | null | undefined)?.range;
  return range ? range[0] : null;
}

function unresolvedAlias(doc: Document, message: string): Node | null {
  if (!message.startsWith("Unresolved alias")) return null;
  let found: Node | null = null;
  visit(doc, {
    Alias(_, node) {
      if (node.resolve(doc) !== undefined) return undefined;
      found = node;
      return visit.BREAK;
    },
  });
  return found;
}

/**
 * A plain value cannot contain ": " (`exec: sh -c echo a: b` reads as a map inside a map), and
 * the YAML message for that says nothing about quoting: say it, naming the key.
 */
function withHint(message: string, code: string, text: string, offset: number): string {
  if (code !== "BLOCK_AS_IMPLICIT_KEY") return message;
  const lineStart = text.lastIndexOf("\n", offset - 1) + 1;
  const lineEnd = text.indexOf("\n", offset);
  const line = text.slice(lineStart, lineEnd === -1 ? undefined : lineEnd);
  const m = /^\s*(?:-\s+)?([A-Za-z_][\w.-]*)\s*:\s+[^'"\s]/.exec(line);
  // The value, from where the error points, must itself hold the ": ".
  if (!m || !line.slice(offset - lineStart).includes(": ")) return message;
  return `${m[1]}: ${message}: quote the whole ${m[1]} value (a plain value cannot contain ": ")`;
}

function oneLine(message: unknown): string {
  return String(message)
    .replace(/\s*\n\s*/g, " ")
    .trim();
}
