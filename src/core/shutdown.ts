// The order of an ordered shutdown: a service is stopped once every service that depends on it
// (its `after` lists point at it) has stopped, and independent services stop in parallel. Kept
// incrementally, so a shutdown of N services costs O(N + edges): each service counts the
// dependents it is still waiting for, and a stop that completes only touches the services it
// depends on. A dependency cycle can never hang the shutdown: when only cycles are left, the
// cycles that nothing else still needs are stopped together.

import { components } from "./graph.ts";

export class ShutdownOrder {
  /** Services not yet asked to stop. */
  private readonly pending = new Set<string>();
  /** Asked to stop, not finished. */
  private readonly stopping = new Set<string>();
  /** Per service: how many services of this shutdown that depend on it have not stopped yet. */
  private readonly dependents = new Map<string, number>();

  constructor(
    names: Iterable<string>,
    /** The distinct dependencies of a service (its `after` list). */
    private readonly deps: (name: string) => readonly string[],
  ) {
    for (const name of names) this.pending.add(name);
    for (const name of this.pending) {
      for (const dep of this.depsOf(name)) {
        this.dependents.set(dep, (this.dependents.get(dep) ?? 0) + 1);
      }
    }
  }

  get done(): boolean {
    return this.pending.size === 0 && this.stopping.size === 0;
  }

  /** The services to stop first. */
  begin(): string[] {
    return this.take([...this.pending].filter((n) => (this.dependents.get(n) ?? 0) === 0));
  }

  /** `name` has stopped (or was forgotten): the services that may stop now. */
  stopped(name: string): string[] {
    if (!this.stopping.delete(name) && !this.pending.delete(name)) return [];
    const free: string[] = [];
    for (const dep of this.depsOf(name)) {
      const left = (this.dependents.get(dep) ?? 1) - 1;
      this.dependents.set(dep, left);
      if (left === 0 && this.pending.has(dep)) free.push(dep);
    }
    return free.length > 0 ? this.take(free) : this.unstick();
  }

  /** Dependencies of `name` that take part in this shutdown, excluding itself, each once. */
  private depsOf(name: string): string[] {
    const out = new Set<string>();
    for (const dep of this.deps(name)) {
      if (dep !== name && (this.pending.has(dep) || this.stopping.has(dep))) out.add(dep);
    }
    return [...out];
  }

  private take(names: string[]): string[] {
    names.sort();
    for (const name of names) {
      this.pending.delete(name);
      this.stopping.add(name);
    }
    return names;
  }

  /**
   * With nothing stopping and nothing free, only cycles are left at the top: stop the members of
   * every cycle that no service outside it still waits on, so nothing it depends on is stopped
   * before it.
   */
  private unstick(): string[] {
    if (this.stopping.size > 0 || this.pending.size === 0) return [];
    const free: string[] = [];
    for (const component of components(this.pending, (n) => this.depsOf(n))) {
      const members = new Set(component);
      const inside = new Map<string, number>();
      for (const member of component) {
        for (const dep of this.depsOf(member)) {
          if (members.has(dep)) inside.set(dep, (inside.get(dep) ?? 0) + 1);
        }
      }
      if (component.every((m) => (this.dependents.get(m) ?? 0) === (inside.get(m) ?? 0))) {
        free.push(...component);
      }
    }
    // Unreachable in a consistent graph; never leave a shutdown without a next step.
    return this.take(free.length > 0 ? free : [...this.pending]);
  }
}
