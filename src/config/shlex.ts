// Splits `exec`/`test` command lines into argv exactly as upstream does with the Rust `shlex`
// crate 1.3 (`shlex::split`): POSIX-like words, no expansion. Matching it byte for byte keeps
// every service file that works upstream working here, including its odd corners (a word that
// is only a backslash-newline yields an empty argument; CR is an ordinary character).

export class ShlexError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ShlexError";
  }
}

/** Shell words of `line`; throws ShlexError on an unbalanced quote or a trailing backslash. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  const n = line.length;
  let i = 0;
  while (i < n) {
    const c = line[i];
    if (c === " " || c === "\t" || c === "\n") {
      i++;
      continue;
    }
    if (c === "#") {
      // Only at the start of a word: everything up to the end of the line is a comment.
      const eol = line.indexOf("\n", i);
      i = eol === -1 ? n : eol + 1;
      continue;
    }
    let word = "";
    wordLoop: while (i < n) {
      const ch = line[i] as string;
      switch (ch) {
        case " ":
        case "\t":
        case "\n":
          i++;
          break wordLoop;
        case "'": {
          const close = line.indexOf("'", i + 1);
          if (close === -1) {
            throw new ShlexError(`unterminated single quote (opened at character ${i + 1})`);
          }
          word += line.slice(i + 1, close);
          i = close + 1;
          break;
        }
        case '"': {
          const open = i++;
          for (;;) {
            if (i >= n) {
              throw new ShlexError(`unterminated double quote (opened at character ${open + 1})`);
            }
            const q = line[i++] as string;
            if (q === '"') break;
            if (q !== "\\") {
              word += q;
              continue;
            }
            if (i >= n) {
              throw new ShlexError(`unterminated double quote (opened at character ${open + 1})`);
            }
            const e = line[i++] as string;
            if (e === "$" || e === "`" || e === '"' || e === "\\") word += e;
            else if (e !== "\n") word += `\\${e}`;
          }
          break;
        }
        case "\\": {
          if (i + 1 >= n) throw new ShlexError("trailing backslash escapes nothing");
          const e = line[i + 1] as string;
          if (e !== "\n") word += e;
          i += 2;
          break;
        }
        default:
          word += ch;
          i++;
      }
    }
    words.push(word);
  }
  return words;
}
