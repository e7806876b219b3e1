// The order in which `zinit start|stop|restart` handles several services: in waves, each wave
// depending only on services in earlier waves (start them first; stop dependents first, wave by
// wave in reverse). Only dependencies among the services handled count. Services caught in a
// dependency cycle come last, in one wave. Kahn's algorithm, iterative: no recursion however long
// the chain.

export function dependencyWaves(after: ReadonlyMap<string, readonly string[]>): string[][] {
  const pending = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const [name, deps] of after) {
    const inSet = [...new Set(deps)].filter((d) => d !== name && after.has(d));
    pending.set(name, inSet.length);
    for (const dep of inSet) {
      const list = dependents.get(dep);
      if (list) list.push(name);
      else dependents.set(dep, [name]);
    }
  }
  const waves: string[][] = [];
  let wave = [...pending].filter(([, n]) => n === 0).map(([name]) => name);
  const placed = new Set<string>();
  while (wave.length > 0) {
    wave.sort();
    waves.push(wave);
    const next: string[] = [];
    for (const name of wave) {
      placed.add(name);
      for (const d of dependents.get(name) ?? []) {
        const left = (pending.get(d) as number) - 1;
        pending.set(d, left);
        if (left === 0) next.push(d);
      }
    }
    wave = next;
  }
  const cyclic = [...after.keys()].filter((name) => !placed.has(name)).sort();
  if (cyclic.length > 0) waves.push(cyclic);
  return waves;
}
