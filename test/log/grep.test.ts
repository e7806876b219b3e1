import { describe, expect, test } from "bun:test";
import { compileGrep, GrepError, MAX_PATTERN } from "../../src/log/grep.ts";

/** Patterns JavaScript's RegExp also understands the same way (its answer is the oracle). */
const PATTERNS = [
  "error",
  "err(or)?",
  "^GET ",
  "ms$",
  "^$",
  "a|b|cd",
  "(?:foo|bar)+baz",
  "x*",
  "a.c",
  "[0-9]{3}-[0-9]{4}",
  "\\d+\\.\\d+",
  "\\bword\\b",
  "\\Bor\\B",
  "[^a-z ]",
  "[a\\-z]",
  "[\\]x]",
  "\\s+$",
  "\\S\\s\\S",
  "\\w{2,3}!",
  "(ab|a)(bc|c)",
  "a{0}b",
  "a{2,}",
  "colou?r",
  "\\x41\\u00e9",
  "\\(x\\)",
  "[.]",
  "a+?b",
  "(a|)c",
  "{not a quantifier}",
  "é+",
];

const ALPHABET = [
  "a",
  "b",
  "c",
  "d",
  "x",
  "r",
  "o",
  "e",
  " ",
  "0",
  "1",
  "9",
  "-",
  ".",
  "!",
  "é",
  "A",
];

function randomText(seed: number): string {
  let s = seed;
  const rand = () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
  let out = "";
  const n = Math.floor(rand() * 30);
  for (let i = 0; i < n; i++) out += ALPHABET[Math.floor(rand() * ALPHABET.length)];
  return out;
}

const SAMPLES = [
  "",
  "error",
  "an error here",
  "err",
  "GET /index",
  "took 5ms",
  "foobarbaz",
  "555-1234",
  "1.5",
  "a word!",
  "word",
  "colour color",
  "Aé",
  "(x)",
  "abc",
  "aab",
  "c",
  "{not a quantifier}",
  "   ",
  "éé",
];

describe("compileGrep", () => {
  test("agrees with JavaScript's RegExp on the syntax it supports", () => {
    for (const pattern of PATTERNS) {
      const ours = compileGrep(pattern);
      const theirs = new RegExp(pattern);
      const texts = [...SAMPLES, ...Array.from({ length: 400 }, (_, i) => randomText(i + 1))];
      for (const text of texts) {
        if (ours(text) !== theirs.test(text)) {
          throw new Error(`/${pattern}/ on ${JSON.stringify(text)}: ours ${ours(text)}`);
        }
      }
    }
  });

  test("(?i) matches without regard to case, also inside classes", () => {
    const m = compileGrep("(?i)err[a-z]r");
    expect(m("ERROR")).toBe(true);
    expect(m("eRrOr")).toBe(true);
    expect(m("err0r")).toBe(false);
    expect(compileGrep("(?i)Warn")("a WARNING")).toBe(true);
    expect(compileGrep("(?i)Warn")("a warm")).toBe(false);
  });

  test("patterns that make a backtracking engine explode take linear time here", () => {
    const line = "a".repeat(64 * 1024);
    for (const pattern of [
      "a*a*a*a*b",
      "(a+)+b",
      "(a|aa)+b",
      "(a*)*$x",
      ".*.*.*x",
      "(a?){30}a{30}b",
    ]) {
      const m = compileGrep(pattern);
      const start = performance.now();
      expect(m(line)).toBe(false);
      // Seconds, even minutes or years, for RegExp; well under one here on a loaded machine.
      expect(performance.now() - start).toBeLessThan(3000);
    }
  });

  test("what it cannot do in linear time, and malformed patterns, are clear errors", () => {
    const errors: Record<string, RegExp> = {
      "(a)\\1": /backreferences/,
      "(?=x)": /only \(\?:\.\.\.\) groups/,
      "(?<n>x)": /only \(\?:\.\.\.\) groups/,
      "a(b": /missing \)/,
      "a)b": /unmatched '\)'/,
      "[ab": /missing \]/,
      "*a": /nothing to repeat/,
      "^*": /nothing to repeat/,
      "a{5,2}": /out of order/,
      "a{1001}": /repeat count/,
      "[z-a]": /out of order/,
      "\\q": /unknown escape/,
      "x\\": /at end of pattern/,
      "(a{1000}){1000}": /too complex/,
    };
    for (const [pattern, why] of Object.entries(errors)) {
      expect(() => compileGrep(pattern)).toThrow(GrepError);
      expect(() => compileGrep(pattern)).toThrow(why);
    }
    expect(() => compileGrep("a".repeat(MAX_PATTERN + 1))).toThrow(/longer than/);
  });
});
