// Whether services are ready, the one rule behind `system_ready`, `zinit ready` and GET /readyz:
// a service is ready when it is Running, or, for a oneshot, when it has succeeded (what lets its
// dependents start). Without names, every service whose target is Up is checked; nothing is ready
// once a shutdown has begun.

import type { Control } from "./control.ts";

/** Not-ready services listed by name, at most; the rest are only counted. */
export const MAX_LISTED = 100;

interface NotReady {
  name: string;
  state: string;
  /** Why, in a few words: the failing check, else the service's reason. */
  reason: string;
}

interface ReadyReport {
  ready: boolean;
  shutting_down: boolean;
  /** How many services were checked. */
  checked: number;
  /** Those not ready, in name order, at most MAX_LISTED. */
  not_ready: NotReady[];
  /** How many more are not ready than listed. */
  more: number;
}

/** `names` (each checked, whatever its target; unknown ones are not ready) or every Up service. */
export function readiness(control: Control, names?: readonly string[]): ReadyReport {
  const known = control.list();
  const checked = names
    ? [...new Set(names)].sort()
    : Object.keys(known).filter((name) => control.status(name).target === "Up");
  const failing: NotReady[] = [];
  let count = 0;
  for (const name of checked) {
    const why = notReady(control, name, Object.hasOwn(known, name));
    if (why === null) continue;
    count++;
    if (failing.length < MAX_LISTED) failing.push(why);
  }
  const shuttingDown = control.shuttingDown;
  return {
    ready: count === 0 && !shuttingDown,
    shutting_down: shuttingDown,
    checked: checked.length,
    not_ready: failing,
    more: count - failing.length,
  };
}

function notReady(control: Control, name: string, known: boolean): NotReady | null {
  if (!known) return { name, state: "Unknown", reason: "not a monitored service" };
  const d = control.inspect(name);
  if (d.oneshot ? d.state === "Success" : d.state === "Running") return null;
  return { name, state: d.state, reason: d.check_failure || d.reason };
}
