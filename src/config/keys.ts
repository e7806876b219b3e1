// Unknown keys in a service file. Upstream ignores them, and so do we (a 0.2 file must keep
// loading, and a file written for us must keep loading on 0.2), but a misspelt key silently
// means its default: each one is reported, with the known key it was probably meant to be.

import { isRecord } from "../values.ts";
import type { PathKey } from "./yaml.ts";

/** The keys a map may hold; a key with a nested tree holds a map checked the same way. */
export interface KeyTree {
  readonly [key: string]: KeyTree | null;
}

/** Known keys of one map that are easy to confuse with a key of another map, and their right name here. */
export type KeyAliases = Readonly<Record<string, string>>;

interface UnknownKey {
  /** Path of the unknown key itself. */
  path: PathKey[];
  suggestion: string | null;
}

/**
 * Every key of `value` (and of its nested maps) that `tree` does not know, in the order they are
 * written. `aliases` maps a dotted map path ("health.ready") to its KeyAliases.
 */
export function unknownKeys(
  value: unknown,
  tree: KeyTree,
  aliases: Readonly<Record<string, KeyAliases>> = {},
): UnknownKey[] {
  type Step = { map: unknown; tree: KeyTree; path: string[] } | { unknown: string[] };
  const found: UnknownKey[] = [];
  // An explicit stack, depth first: a service file is shallow, but nothing here should trust that.
  const stack: Step[] = [{ map: value, tree, path: [] }];
  while (stack.length > 0) {
    const step = stack.pop() as Step;
    if ("unknown" in step) {
      const path = step.unknown;
      const hints = aliases[path.slice(0, -1).join(".")] ?? {};
      const known = Object.keys(lookup(tree, path.slice(0, -1)));
      found.push({ path, suggestion: suggest(path.at(-1) as string, known, hints) });
      continue;
    }
    if (!isRecord(step.map)) continue;
    const next: Step[] = [];
    for (const key of Object.keys(step.map)) {
      const path = [...step.path, key];
      if (!Object.hasOwn(step.tree, key)) next.push({ unknown: path });
      else {
        const sub = step.tree[key];
        if (sub) next.push({ map: step.map[key], tree: sub, path });
      }
    }
    // Reversed onto the stack, so they come off in the order they were written.
    stack.push(...next.reverse());
  }
  return found;
}

function lookup(tree: KeyTree, path: readonly string[]): KeyTree {
  let at = tree;
  for (const key of path) at = at[key] ?? {};
  return at;
}

/** The known key `key` was most likely meant to be, or null when none is close. */
export function suggest(
  key: string,
  known: readonly string[],
  aliases: KeyAliases = {},
): string | null {
  const alias = aliases[key];
  if (alias !== undefined) return alias;
  // The unit left out: `restart_delay` for `restart_delay_ms`.
  const withUnit = known.find((k) => k === `${key}_ms`);
  if (withUnit) return withUnit;
  const lower = key.toLowerCase();
  let best: string | null = null;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = editDistance(lower, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  // Close enough to be a slip of the keyboard, not a different word.
  return bestDistance <= Math.max(1, Math.floor(key.length / 4)) ? best : null;
}

/**
 * Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of two
 * neighbouring characters (`exce` → `exec`) each cost 1. Keys are short; inputs are capped.
 */
export function editDistance(a: string, b: string): number {
  const s = a.slice(0, 64);
  const t = b.slice(0, 64);
  const rows = s.length + 1;
  const cols = t.length + 1;
  const d: number[] = new Array(rows * cols).fill(0);
  const at = (i: number, j: number) => d[i * cols + j] as number;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) {
        best = Math.min(best, at(i - 2, j - 2) + 1);
      }
      d[i * cols + j] = best;
    }
  }
  return at(s.length, t.length);
}
