// `--grep` for log queries: regular expressions matched in time linear in the line's length.
// JavaScript's RegExp backtracks, so one pattern sent over the socket (`a*a*b` against a long line
// takes seconds, `(a+)+b` forever) would hang PID 1. This compiles the common syntax to an NFA and
// runs it Thompson-style: every line costs at most (its length x the pattern's size) steps.
//
// Supported: literals, `.`, `[...]` and `[^...]` with ranges, `\d \D \w \W \s \S \b \B`, escapes
// (`\t \n \r \f \v \0 \xHH \uHHHH`, `\` before punctuation), `^ $`, groups `( )` and `(?: )`,
// `|`, the quantifiers `* + ? {n} {n,} {n,m}` (a lazy `?` after them is accepted; it changes
// nothing when only asking whether a line matches), and `(?i)` at the start for case-insensitive.
// Not supported (a clear error): backreferences and lookaround, which have no linear-time match.

/** Longest pattern accepted, and the largest program it may expand to (`x{1000}` repeats x). */
export const MAX_PATTERN = 1024;
const MAX_PROGRAM = 20_000;
const MAX_REPEAT = 1000;

export class GrepError extends Error {
  override name = "GrepError";
}

type Charset = (c: number) => boolean;

type Node =
  | { t: "char"; c: number }
  | { t: "any" }
  | { t: "set"; test: Charset }
  | { t: "cat"; xs: Node[] }
  | { t: "alt"; xs: Node[] }
  | { t: "rep"; x: Node; min: number; max: number }
  | { t: "assert"; k: Assertion }
  | { t: "empty" };

type Assertion = "bol" | "eol" | "wordb" | "nwordb";

const isDigit: Charset = (c) => c >= 48 && c <= 57;
const isWord: Charset = (c) =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isSpace: Charset = (c) =>
  c === 32 ||
  (c >= 9 && c <= 13) ||
  c === 0xa0 ||
  c === 0x1680 ||
  (c >= 0x2000 && c <= 0x200a) ||
  c === 0x2028 ||
  c === 0x2029 ||
  c === 0x202f ||
  c === 0x205f ||
  c === 0x3000 ||
  c === 0xfeff;
const not =
  (f: Charset): Charset =>
  (c) =>
    !f(c);

class Parser {
  private i = 0;

  constructor(private readonly src: string) {}

  parse(): Node {
    const node = this.alternation();
    if (this.i < this.src.length) this.fail(`unmatched ')' at offset ${this.i}`);
    return node;
  }

  private fail(why: string): never {
    throw new GrepError(`invalid pattern: ${why}`);
  }

  private peek(): number {
    return this.src.charCodeAt(this.i);
  }

  private eat(ch: string): boolean {
    if (this.src[this.i] !== ch) return false;
    this.i++;
    return true;
  }

  private alternation(): Node {
    const xs = [this.concatenation()];
    while (this.eat("|")) xs.push(this.concatenation());
    return xs.length === 1 ? (xs[0] as Node) : { t: "alt", xs };
  }

  private concatenation(): Node {
    const xs: Node[] = [];
    while (this.i < this.src.length && this.src[this.i] !== "|" && this.src[this.i] !== ")") {
      xs.push(this.quantified());
    }
    if (xs.length === 0) return { t: "empty" };
    return xs.length === 1 ? (xs[0] as Node) : { t: "cat", xs };
  }

  private quantified(): Node {
    const at = this.i;
    let x = this.atom();
    for (;;) {
      let min: number;
      let max: number;
      if (this.eat("*")) [min, max] = [0, Number.POSITIVE_INFINITY];
      else if (this.eat("+")) [min, max] = [1, Number.POSITIVE_INFINITY];
      else if (this.eat("?")) [min, max] = [0, 1];
      else {
        const braces = this.braces();
        if (!braces) return x;
        [min, max] = braces;
      }
      if (x.t === "assert" || x.t === "empty") this.fail(`nothing to repeat at offset ${at}`);
      this.eat("?");
      x = { t: "rep", x, min, max };
    }
  }

  /** `{n}`, `{n,}`, `{n,m}`; anything else starting with `{` is a literal brace (as in JS). */
  private braces(): [number, number] | null {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i));
    if (!m) return null;
    this.i += m[0].length;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === "" ? Number.POSITIVE_INFINITY : Number(m[3]);
    if (min > MAX_REPEAT || (max !== Number.POSITIVE_INFINITY && max > MAX_REPEAT)) {
      this.fail(`repeat count above ${MAX_REPEAT}`);
    }
    if (max < min) this.fail("numbers out of order in {} quantifier");
    return [min, max];
  }

  private atom(): Node {
    const c = this.peek();
    const ch = this.src[this.i++] as string;
    switch (ch) {
      case ".":
        return { t: "any" };
      case "^":
        return { t: "assert", k: "bol" };
      case "$":
        return { t: "assert", k: "eol" };
      case "(":
        return this.group();
      case "[":
        return this.charClass();
      case "\\":
        return this.escape(false);
      case "*":
      case "+":
      case "?":
        return this.fail(`nothing to repeat at offset ${this.i - 1}`);
      default:
        return { t: "char", c };
    }
  }

  private group(): Node {
    if (this.eat("?")) {
      if (!this.eat(":")) {
        this.fail("only (?:...) groups are supported (no lookaround or named groups)");
      }
    }
    const inner = this.alternation();
    if (!this.eat(")")) this.fail("missing )");
    return inner;
  }

  /** After a backslash; `inClass` for escapes inside `[...]`. */
  private escape(inClass: boolean): Node {
    if (this.i >= this.src.length) this.fail("\\ at end of pattern");
    const ch = this.src[this.i++] as string;
    switch (ch) {
      case "d":
        return { t: "set", test: isDigit };
      case "D":
        return { t: "set", test: not(isDigit) };
      case "w":
        return { t: "set", test: isWord };
      case "W":
        return { t: "set", test: not(isWord) };
      case "s":
        return { t: "set", test: isSpace };
      case "S":
        return { t: "set", test: not(isSpace) };
      case "b":
        if (inClass) return { t: "char", c: 8 };
        return { t: "assert", k: "wordb" };
      case "B":
        if (inClass) this.fail("\\B inside a class");
        return { t: "assert", k: "nwordb" };
      case "t":
        return { t: "char", c: 9 };
      case "n":
        return { t: "char", c: 10 };
      case "r":
        return { t: "char", c: 13 };
      case "f":
        return { t: "char", c: 12 };
      case "v":
        return { t: "char", c: 11 };
      case "0":
        return { t: "char", c: 0 };
      case "x":
      case "u": {
        const digits = ch === "x" ? 2 : 4;
        const hex = this.src.slice(this.i, this.i + digits);
        if (!new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex)) this.fail(`bad \\${ch} escape`);
        this.i += digits;
        return { t: "char", c: Number.parseInt(hex, 16) };
      }
      default: {
        const c = ch.charCodeAt(0);
        if (c >= 49 && c <= 57) this.fail("backreferences are not supported");
        if (isWord(c)) this.fail(`unknown escape \\${ch}`);
        return { t: "char", c };
      }
    }
  }

  private charClass(): Node {
    const negate = this.eat("^");
    const parts: Charset[] = [];
    let first = true;
    while (this.i < this.src.length && (first || this.src[this.i] !== "]")) {
      first = false;
      const lo = this.classAtom();
      if (
        typeof lo === "number" &&
        this.src[this.i] === "-" &&
        this.i + 1 < this.src.length &&
        this.src[this.i + 1] !== "]"
      ) {
        this.i++;
        const hi = this.classAtom();
        if (typeof hi !== "number") this.fail("a range cannot end in a class like \\d");
        if (hi < lo) this.fail("range out of order in character class");
        parts.push((c) => c >= lo && c <= hi);
      } else {
        parts.push(typeof lo === "number" ? (c) => c === lo : lo);
      }
    }
    if (!this.eat("]")) this.fail("missing ]");
    const any: Charset = (c) => {
      for (const p of parts) if (p(c)) return true;
      return false;
    };
    return { t: "set", test: negate ? not(any) : any };
  }

  private classAtom(): number | Charset {
    const ch = this.src[this.i++] as string;
    if (ch !== "\\") return ch.charCodeAt(0);
    const node = this.escape(true);
    if (node.t === "char") return node.c;
    if (node.t === "set") return node.test;
    return this.fail("unsupported escape in character class");
  }
}

enum Op {
  Char,
  Any,
  Set,
  Split,
  Jmp,
  Assert,
  Match,
}

interface Program {
  op: Op[];
  a: number[];
  b: number[];
  sets: Charset[];
  asserts: Assertion[];
}

function emit(node: Node, p: Program): void {
  const at = () => p.op.length;
  const push = (op: Op, a = 0, b = 0) => {
    if (p.op.length >= MAX_PROGRAM) throw new GrepError("invalid pattern: too complex");
    p.op.push(op);
    p.a.push(a);
    p.b.push(b);
    return p.op.length - 1;
  };
  switch (node.t) {
    case "char":
      push(Op.Char, node.c);
      return;
    case "any":
      push(Op.Any);
      return;
    case "set":
      p.sets.push(node.test);
      push(Op.Set, p.sets.length - 1);
      return;
    case "assert":
      p.asserts.push(node.k);
      push(Op.Assert, p.asserts.length - 1);
      return;
    case "empty":
      return;
    case "cat":
      for (const x of node.xs) emit(x, p);
      return;
    case "alt": {
      // split L1, next; L1: x0; jmp end; next: split L2, … ; last alternative falls through.
      const jumps: number[] = [];
      for (let i = 0; i < node.xs.length - 1; i++) {
        const split = push(Op.Split);
        p.a[split] = at();
        emit(node.xs[i] as Node, p);
        jumps.push(push(Op.Jmp));
        p.b[split] = at();
      }
      emit(node.xs[node.xs.length - 1] as Node, p);
      for (const j of jumps) p.a[j] = at();
      return;
    }
    case "rep": {
      for (let i = 0; i < node.min; i++) emit(node.x, p);
      if (node.max === Number.POSITIVE_INFINITY) {
        const split = push(Op.Split);
        p.a[split] = at();
        emit(node.x, p);
        push(Op.Jmp, split);
        p.b[split] = at();
        return;
      }
      const splits: number[] = [];
      for (let i = node.min; i < node.max; i++) {
        const split = push(Op.Split);
        p.a[split] = at();
        splits.push(split);
        emit(node.x, p);
      }
      for (const s of splits) p.b[s] = at();
      return;
    }
  }
}

function lower(c: number): number {
  if (c >= 65 && c <= 90) return c + 32;
  if (c < 128) return c;
  return String.fromCharCode(c).toLowerCase().charCodeAt(0);
}

function upper(c: number): number {
  if (c >= 97 && c <= 122) return c - 32;
  if (c < 128) return c;
  return String.fromCharCode(c).toUpperCase().charCodeAt(0);
}

/**
 * Compiles `pattern` to a test that says whether a line contains a match. Throws GrepError,
 * whose message says what is wrong, for patterns outside the supported syntax.
 */
export function compileGrep(pattern: string): (text: string) => boolean {
  if (pattern.length > MAX_PATTERN) {
    throw new GrepError(`invalid pattern: longer than ${MAX_PATTERN} characters`);
  }
  let source = pattern;
  let fold = false;
  if (source.startsWith("(?i)")) {
    fold = true;
    source = source.slice(4);
  }
  if (!/[\\^$.|?*+()[\]{}]/.test(source)) {
    // A plain word, the common case: the engine's own substring search.
    if (!fold) return (text) => text.includes(source);
    const needle = source.toLowerCase();
    return (text) => text.toLowerCase().includes(needle);
  }
  const tree = new Parser(source).parse();
  const prog: Program = { op: [], a: [], b: [], sets: [], asserts: [] };
  emit(tree, prog);
  prog.op.push(Op.Match);
  prog.a.push(0);
  prog.b.push(0);
  if (fold) {
    for (let pc = 0; pc < prog.op.length; pc++) {
      if (prog.op[pc] === Op.Char) prog.a[pc] = lower(prog.a[pc] as number);
    }
    prog.sets = prog.sets.map((set) => (c) => set(c) || set(lower(c)) || set(upper(c)));
  }
  return matcher(prog, fold);
}

function matcher(prog: Program, fold: boolean): (text: string) => boolean {
  const size = prog.op.length;
  const op = Int32Array.from(prog.op);
  const a = Int32Array.from(prog.a);
  const b = Int32Array.from(prog.b);
  const { sets, asserts } = prog;
  const marks = new Uint32Array(size);
  let gen = 0;
  let current = new Int32Array(size);
  let next = new Int32Array(size);
  const stack = new Int32Array(size * 2 + 2);

  const holds = (k: Assertion, text: string, pos: number): boolean => {
    switch (k) {
      case "bol":
        return pos === 0;
      case "eol":
        return pos === text.length;
      case "wordb":
      case "nwordb": {
        const before = pos > 0 && isWord(text.charCodeAt(pos - 1));
        const after = pos < text.length && isWord(text.charCodeAt(pos));
        return (before !== after) === (k === "wordb");
      }
    }
  };

  /** Adds pc's epsilon closure at `pos` to `list` (length `n`); returns the new length, or -1 on a match. */
  const add = (list: Int32Array, n: number, pc: number, text: string, pos: number): number => {
    let sp = 0;
    stack[sp++] = pc;
    while (sp > 0) {
      const at = stack[--sp] as number;
      if (marks[at] === gen) continue;
      marks[at] = gen;
      switch (op[at] as Op) {
        case Op.Jmp:
          stack[sp++] = a[at] as number;
          break;
        case Op.Split:
          stack[sp++] = b[at] as number;
          stack[sp++] = a[at] as number;
          break;
        case Op.Assert:
          if (holds(asserts[a[at] as number] as Assertion, text, pos)) stack[sp++] = at + 1;
          break;
        case Op.Match:
          return -1;
        default:
          list[n++] = at;
      }
    }
    return n;
  };

  return (text: string) => {
    gen++;
    let n = add(current, 0, 0, text, 0);
    if (n < 0) return true;
    for (let pos = 0; pos < text.length; pos++) {
      let c = text.charCodeAt(pos);
      if (fold) c = lower(c);
      gen++;
      let m = 0;
      for (let i = 0; i < n; i++) {
        const pc = current[i] as number;
        let ok: boolean;
        switch (op[pc] as Op) {
          case Op.Char:
            ok = a[pc] === c;
            break;
          case Op.Any:
            ok = true;
            break;
          default:
            ok = (sets[a[pc] as number] as Charset)(text.charCodeAt(pos));
        }
        if (!ok) continue;
        m = add(next, m, pc + 1, text, pos + 1);
        if (m < 0) return true;
      }
      // Unanchored: a match may also start at the next position.
      m = add(next, m, 0, text, pos + 1);
      if (m < 0) return true;
      const t = current;
      current = next;
      next = t;
      n = m;
    }
    return false;
  };
}
