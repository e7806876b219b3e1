// The dependency graph of `after` lists: cycle reports and strongly connected components. Every
// walk here uses an explicit stack: a chain of 20,000 services must not overflow the call stack.

type Deps = ReadonlyMap<string, readonly string[]>;

/**
 * The cycles found by a depth-first walk (one per back edge), each as a path `a -> b -> a`,
 * started from its smallest name and deduplicated. Names that are not in `deps` are ignored.
 */
export function findCycles(deps: Deps): string[][] {
  const cycles: string[][] = [];
  const seen = new Set<string>();
  const state = new Map<string, "active" | "done">();
  const path: string[] = [];
  const frames: { node: string; next: string[]; at: number }[] = [];

  const enter = (node: string) => {
    state.set(node, "active");
    path.push(node);
    frames.push({ node, next: [...new Set(deps.get(node) ?? [])], at: 0 });
  };

  for (const root of [...deps.keys()].sort()) {
    if (state.has(root)) continue;
    enter(root);
    while (frames.length > 0) {
      const frame = frames[frames.length - 1] as (typeof frames)[number];
      if (frame.at === frame.next.length) {
        frames.pop();
        path.pop();
        state.set(frame.node, "done");
        continue;
      }
      const next = frame.next[frame.at++] as string;
      if (!deps.has(next)) continue;
      const s = state.get(next);
      if (s === undefined) {
        enter(next);
      } else if (s === "active") {
        const cycle = [...path.slice(path.lastIndexOf(next)), next];
        const key = canonical(cycle);
        if (!seen.has(key)) {
          seen.add(key);
          cycles.push(cycle);
        }
      }
    }
  }
  return cycles;
}

// A cycle is the same whatever node it is written from: rotate to start at the smallest name.
function canonical(cycle: string[]): string {
  const ring = cycle.slice(0, -1);
  let start = 0;
  for (let i = 1; i < ring.length; i++) if ((ring[i] ?? "") < (ring[start] ?? "")) start = i;
  return [...ring.slice(start), ...ring.slice(0, start)].join("\0");
}

/**
 * Strongly connected components of the graph restricted to `nodes` (Tarjan's algorithm, without
 * recursion), each with the nodes of other components it has edges to. Components come out in
 * reverse topological order: a component is listed after every component it depends on.
 */
export function components(
  nodes: ReadonlySet<string>,
  deps: (node: string) => readonly string[],
): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  let counter = 0;
  const frames: { node: string; next: readonly string[]; at: number }[] = [];

  const enter = (node: string) => {
    index.set(node, counter);
    low.set(node, counter);
    counter++;
    stack.push(node);
    onStack.add(node);
    frames.push({ node, next: deps(node).filter((d) => nodes.has(d)), at: 0 });
  };

  for (const root of nodes) {
    if (index.has(root)) continue;
    enter(root);
    while (frames.length > 0) {
      const frame = frames[frames.length - 1] as (typeof frames)[number];
      if (frame.at < frame.next.length) {
        const next = frame.next[frame.at++] as string;
        if (!index.has(next)) enter(next);
        else if (onStack.has(next)) {
          low.set(frame.node, Math.min(low.get(frame.node) ?? 0, index.get(next) ?? 0));
        }
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent) {
        low.set(parent.node, Math.min(low.get(parent.node) ?? 0, low.get(frame.node) ?? 0));
      }
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        for (;;) {
          const n = stack.pop() as string;
          onStack.delete(n);
          component.push(n);
          if (n === frame.node) break;
        }
        out.push(component.sort());
      }
    }
  }
  return out;
}
