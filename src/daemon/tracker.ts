// Which processes belong to a service. Without cgroups, membership is: every process in a session
// the service's main process led, every process already seen as a member (identified by pid and
// start time, so a reused pid is not mistaken for it), and all their descendants. Remembering
// members matters: once a parent dies, a child that left the session with setsid is reparented
// to us and could no longer be traced back to the service.

import { members, type ProcInfo } from "../sys/proc.ts";

/** Sessions kept per service before pruning the ones with no process left. */
const SESSION_PRUNE_AT = 16;

interface Tracked {
  sessions: Set<number>;
  /** pid → start time of processes seen as members. */
  known: Map<number, number>;
}

export class ProcessTracker {
  private readonly services = new Map<string, Tracked>();

  /** A new main process: it leads a new session (spawned with setsid). */
  addSession(name: string, sid: number): void {
    const t = this.entry(name);
    t.sessions.add(sid);
    // A crash-looping service adds a session per run; keep only those with processes left.
    if (t.sessions.size > SESSION_PRUNE_AT) {
      const alive = new Set(this.members(name).map((p) => p.sid));
      for (const s of t.sessions) if (s !== sid && !alive.has(s)) t.sessions.delete(s);
    }
  }

  /** Live processes of the service (zombies excluded); each one found is remembered. */
  members(name: string): ProcInfo[] {
    const t = this.services.get(name);
    if (!t) return [];
    const found = members((p) => t.sessions.has(p.sid) || t.known.get(p.pid) === p.starttime);
    t.known.clear();
    const live = found.filter((p) => p.state !== "Z");
    for (const p of live) t.known.set(p.pid, p.starttime);
    return live;
  }

  forget(name: string): void {
    this.services.delete(name);
  }

  private entry(name: string): Tracked {
    let t = this.services.get(name);
    if (!t) {
      t = { sessions: new Set(), known: new Map() };
      this.services.set(name, t);
    }
    return t;
  }
}
