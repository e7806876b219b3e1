// Drives the supervision core the way the shell does, with no processes: commands and events go
// in with the time, effects come out and are kept for assertions.

import type { CoreEvent, Effect, Role } from "../../src/core/effects.ts";
import { Supervisor, type SupervisorOptions } from "../../src/core/supervisor.ts";
import type { ExitStatus, ServiceConfig } from "../../src/core/types.ts";
import { serviceConfig } from "../helpers/service-config.ts";

export const cfg = serviceConfig;

export const code = (n: number): ExitStatus => ({ kind: "exited", code: n });
export const killedBy = (signal: number): ExitStatus => ({ kind: "signaled", signal, core: false });

export const spawns = (effects: Effect[]) =>
  effects.flatMap((e) => (e.type === "spawn" ? [`${e.name}:${e.role}`] : []));

export const ofType = <T extends Effect["type"]>(effects: Effect[], type: T) =>
  effects.filter((e): e is Extract<Effect, { type: T }> => e.type === type);

export const logs = (effects: Effect[]) => ofType(effects, "log").map((e) => e.message);

export const signalled = (effects: Effect[]) =>
  ofType(effects, "signal").map((e) => `${e.name}:${e.signal}`);

export class Core {
  readonly s: Supervisor;

  constructor(opts?: SupervisorOptions) {
    this.s = new Supervisor(opts);
  }

  monitor(services: Record<string, Partial<ServiceConfig>>, now = 0): Effect[] {
    return this.s.monitorAll(
      new Map(Object.entries(services).map(([name, over]) => [name, cfg(over)])),
      now,
    );
  }

  event(ev: CoreEvent, now: number): Effect[] {
    return this.s.handle(ev, now);
  }

  spawned(name: string, pid: number, now: number, role: Role = "main"): Effect[] {
    return this.event({ type: "spawned", name, role, pid }, now);
  }

  spawnFailed(name: string, error: string, now: number, role: Role = "main"): Effect[] {
    return this.event({ type: "spawnFailed", name, role, error }, now);
  }

  exited(pid: number, status: ExitStatus, now: number): Effect[] {
    return this.event({ type: "exited", pid, status }, now);
  }

  drained(name: string, now: number): Effect[] {
    return this.event({ type: "drained", name }, now);
  }

  timer(name: string, kind: Extract<CoreEvent, { type: "timer" }>["kind"], now: number): Effect[] {
    return this.event({ type: "timer", name, kind }, now);
  }

  state(name: string): string {
    return this.s.list()[name] ?? "(absent)";
  }
}
