import { describe, expect, test } from "bun:test";
import { ShlexError, splitWords } from "../../src/config/shlex.ts";
import oracle from "./shlex-oracle.json" with { type: "json" };

// Expected values were produced by the real Rust crate (`shlex::split`, shlex 1.3.0) and are the
// reference: `null` is its `None` (a parse error). Inputs are JSON-escaped to keep them exact.
const split = (line: string): string[] | null => {
  try {
    return splitWords(line);
  } catch (err) {
    if (err instanceof ShlexError) return null;
    throw err;
  }
};

// Cases where Python's `shlex.split(s, comments=True)` agrees with Rust shlex.
const AGREE: [string, string[] | null][] = [
  ["", []],
  ["   ", []],
  ["\t\n ", []],
  ["echo", ["echo"]],
  ["echo hello world", ["echo", "hello", "world"]],
  ["  echo   a  ", ["echo", "a"]],
  ["a\tb\nc", ["a", "b", "c"]],
  ["'a b'", ["a b"]],
  ["'a \"b\" \\c'", ['a "b" \\c']],
  ['"a b"', ["a b"]],
  ['"a \\" b"', ['a " b']],
  ['"a \\\\ b"', ["a \\ b"]],
  ['"a \\n b"', ["a \\n b"]],
  ['"a \\x b"', ["a \\x b"]],
  ["a\\ b", ["a b"]],
  ["a\\\\b", ["a\\b"]],
  ["a\\'b", ["a'b"]],
  ['a\\"b', ['a"b']],
  ["\\x", ["x"]],
  ["a'b'\"c\"d", ["abcd"]],
  ['""', [""]],
  ["''", [""]],
  ['a "" b', ["a", "", "b"]],
  ["'' ''", ["", ""]],
  ['x=""', ["x="]],
  ["echo a #b", ["echo", "a"]],
  ["#comment", []],
  ["# c\necho x", ["echo", "x"]],
  ["echo #a\nb c", ["echo", "b", "c"]],
  ["a'#'b", ["a#b"]],
  ['"#"a', ["#a"]],
  ["\\#a", ["#a"]],
  ["a #", ["a"]],
  ["'unterminated", null],
  ['"unterminated', null],
  ["trailing\\", null],
  ['"a\\', null],
  ["ok 'bad", null],
  ["sh -c 'echo $HOME; exit 1'", ["sh", "-c", "echo $HOME; exit 1"]],
  [
    "python3 -m http.server --bind 127.0.0.1 8081",
    ["python3", "-m", "http.server", "--bind", "127.0.0.1", "8081"],
  ],
  ["\u00e9 \ud83d\ude00 '\u00fc x'", ["\u00e9", "\ud83d\ude00", "\u00fc x"]],
  ["$HOME *.txt a|b >out", ["$HOME", "*.txt", "a|b", ">out"]],
  ["a\\\tb", ["a\tb"]],
  ["'a\nb'", ["a\nb"]],
  ['"a\nb"', ["a\nb"]],
];

// Cases where Python's shlex differs; [input, Rust shlex (what we must do), Python shlex].
// Python treats CR as a separator, keeps the backslash before $ ` and newline inside double
// quotes, keeps an escaped newline, and starts a comment at a `#` inside a word.
const DIFFER: [string, string[], string[]][] = [
  ["a\rb", ["a\rb"], ["a", "b"]],
  ["a \r b", ["a", "\r", "b"], ["a", "b"]],
  ['"a \\$HOME"', ["a $HOME"], ["a \\$HOME"]],
  ['"\\`x\\`"', ["`x`"], ["\\`x\\`"]],
  ['"a\\\nb"', ["ab"], ["a\\\nb"]],
  ["a\\\nb", ["ab"], ["a\nb"]],
  ["a \\\n b", ["a", "", "b"], ["a", "\n", "b"]],
  ["\\\n", [""], ["\n"]],
  ["echo a#b", ["echo", "a#b"], ["echo", "a"]],
];

describe("splitWords", () => {
  test.each(AGREE)("%j (same as Python shlex)", (line, expected) => {
    expect(split(line)).toEqual(expected);
  });

  test.each(DIFFER)("%j (Rust shlex, not Python)", (line, rust, python) => {
    expect(split(line)).toEqual(rust);
    expect(rust).not.toEqual(python);
  });

  test("error messages say what is wrong and where", () => {
    expect(() => splitWords("echo 'abc")).toThrow(
      new ShlexError("unterminated single quote (opened at character 6)"),
    );
    expect(() => splitWords('a "b')).toThrow(
      new ShlexError("unterminated double quote (opened at character 3)"),
    );
    expect(() => splitWords('"a\\')).toThrow(
      new ShlexError("unterminated double quote (opened at character 1)"),
    );
    expect(() => splitWords("echo \\")).toThrow(
      new ShlexError("trailing backslash escapes nothing"),
    );
  });

  test("a quote inside a comment is not parsed", () => {
    expect(splitWords("echo ok # it's fine")).toEqual(["echo", "ok"]);
    expect(splitWords("# it's\necho 'a'")).toEqual(["echo", "a"]);
  });

  test("matches the Rust crate on 500 random lines of special characters", () => {
    const mismatches = (oracle.cases as [string, string[] | null][]).filter(
      ([line, expected]) => JSON.stringify(split(line)) !== JSON.stringify(expected),
    );
    expect(mismatches).toEqual([]);
  });

  test("text without quotes, backslashes or # splits on blanks only", () => {
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const plain = ["a", "b", "é", "-", "=", "/", "$", "*"];
    const blanks = [" ", "\t", "\n"];
    for (let k = 0; k < 2000; k++) {
      let line = "";
      for (let j = rand(12); j > 0; j--) {
        line += rand(3) === 0 ? blanks[rand(3)] : plain[rand(plain.length)];
      }
      expect(splitWords(line)).toEqual(line.split(/[ \t\n]+/).filter((w) => w !== ""));
    }
  });
});
