// The dependency graph of `after` lists: cycle detection for reports, and the shutdown order
// (dependents stop before what they depend on; independent services stop in parallel).

export type Deps = ReadonlyMap<string, readonly string[]>;

/** Every elementary cycle reachable in the graph, each as a path `a -> b -> a`, deduplicated. */
export function findCycles(deps: Deps): string[][] {
  const cycles: string[][] = [];
  const seen = new Set<string>();
  const state = new Map<string, "active" | "done">();
  const stack: string[] = [];

  const visit = (node: string) => {
    state.set(node, "active");
    stack.push(node);
    for (const next of new Set(deps.get(node) ?? [])) {
      if (!deps.has(next)) continue;
      const s = state.get(next);
      if (s === "active") {
        const cycle = [...stack.slice(stack.indexOf(next)), next];
        const key = canonical(cycle);
        if (!seen.has(key)) {
          seen.add(key);
          cycles.push(cycle);
        }
      } else if (s === undefined) {
        visit(next);
      }
    }
    stack.pop();
    state.set(node, "done");
  };

  for (const node of [...deps.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

// A cycle is the same whatever node it is written from: rotate to start at the smallest name.
function canonical(cycle: string[]): string {
  const ring = cycle.slice(0, -1);
  let start = 0;
  for (let i = 1; i < ring.length; i++) if ((ring[i] ?? "") < (ring[start] ?? "")) start = i;
  return [...ring.slice(start), ...ring.slice(0, start)].join("\0");
}

/** Names in `deps` that are part of some cycle. */
export function nodesInCycles(deps: Deps): Set<string> {
  const nodes = new Set<string>();
  for (const cycle of findCycles(deps)) for (const n of cycle) nodes.add(n);
  return nodes;
}

/**
 * The services of `remaining` that may be stopped now: those no other remaining service
 * depends on. When a cycle leaves nothing stoppable, every remaining service is returned, so
 * a cycle can never hang a shutdown.
 */
export function stoppableNow(deps: Deps, remaining: ReadonlySet<string>): string[] {
  const needed = new Set<string>();
  for (const name of remaining) {
    for (const dep of deps.get(name) ?? []) if (dep !== name) needed.add(dep);
  }
  const free = [...remaining].filter((name) => !needed.has(name));
  if (free.length > 0) return free.sort();
  // Only cycles are left at the top: stop their members together, but still before anything
  // outside the cycles that they depend on.
  const sub = new Map(
    [...remaining].map((n) => [n, (deps.get(n) ?? []).filter((d) => remaining.has(d))]),
  );
  const cyclic = nodesInCycles(sub);
  const neededOutside = new Set<string>();
  for (const name of remaining) {
    if (cyclic.has(name)) continue;
    for (const dep of sub.get(name) ?? []) neededOutside.add(dep);
  }
  const breakable = [...cyclic].filter((n) => !neededOutside.has(n));
  return (breakable.length > 0 ? breakable : [...remaining]).sort();
}
