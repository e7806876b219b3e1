// A client call stays cheap: what main.ts loads for every verb must not include the daemon, nor
// the service file schema `zinit check` brings (both are loaded with a dynamic import).

import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "../../src");

/** Every module reachable from `entry` through static imports: repo files and package names. */
function staticClosure(entry: string): Set<string> {
  const transpiler = new Bun.Transpiler({ loader: "ts" });
  const seen = new Set<string>();
  const stack = [entry];
  while (stack.length > 0) {
    const file = stack.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    // Packages are named, not followed; JSON has no imports.
    if (!file.startsWith("/") || !file.endsWith(".ts")) continue;
    for (const imp of transpiler.scanImports(readFileSync(file, "utf8"))) {
      if (imp.kind !== "import-statement") continue;
      stack.push(imp.path.startsWith(".") ? join(dirname(file), imp.path) : imp.path);
    }
  }
  return new Set([...seen].map((f) => (f.startsWith("/") ? relative(SRC, f) : f)));
}

test("the client verbs load neither the daemon nor the service file schema", () => {
  const loaded = staticClosure(join(SRC, "main.ts"));
  expect(loaded).toContain("cli/commands.ts");
  for (const heavy of [
    "init.ts",
    "cli/check.ts",
    "config/schema.ts",
    "config/store.ts",
    "valibot",
    "yaml",
  ]) {
    expect(loaded).not.toContain(heavy);
  }
});

test("the walk sees through static imports", () => {
  const loaded = staticClosure(join(SRC, "cli/check.ts"));
  expect(loaded).toContain("config/schema.ts");
  expect(loaded).toContain("valibot");
});
