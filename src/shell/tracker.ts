// Which processes belong to a service. Without cgroups, membership is: every process in a session
// the service's main process led, every process already seen as a member (identified by pid and
// start time, so a reused pid is not mistaken for it), and all their descendants. Remembering
// members matters: once a parent dies, a child that left the session with setsid is reparented
// to us and could no longer be traced back to the service.
//
// Reading /proc costs one file per process, so one reading serves a whole turn of the event loop
// (a shutdown wave signals every service in one turn), and "is it still running" is first
// answered from the members already known.

import { type ProcInfo, ProcTable, readProc } from "../sys/proc.ts";

/** Sessions kept per service before pruning the ones with no process left. */
const SESSION_PRUNE_AT = 16;

interface Tracked {
  sessions: Set<number>;
  /** pid → start time of processes seen as members. */
  known: Map<number, number>;
}

export class ProcessTracker {
  private readonly services = new Map<string, Tracked>();
  /** Known member pid → its service, so a reaped pid tells which service to look at again. */
  private readonly owners = new Map<number, string>();
  private table: ProcTable | null = null;
  /** Pids reaped since `table` was read: the table may still show them alive. */
  private readonly reapedSinceRead = new Set<number>();

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

  noteReaped(pid: number): void {
    if (this.table) this.reapedSinceRead.add(pid);
  }

  /** Live processes of the service (zombies excluded); each one found is remembered. */
  members(name: string): ProcInfo[] {
    const t = this.services.get(name);
    if (!t) return [];
    const table = this.current();
    const roots: ProcInfo[] = [];
    for (const sid of t.sessions) roots.push(...(table.bySid.get(sid) ?? []));
    for (const [pid, start] of t.known) {
      const p = table.byPid.get(pid);
      if (p && p.starttime === start) roots.push(p);
    }
    const live = table
      .closure(roots)
      .filter((p) => p.state !== "Z" && !this.reapedSinceRead.has(p.pid));
    this.setKnown(name, t, live);
    return live;
  }

  /** Whether any process of the service is left. Known members are checked one by one first. */
  anyAlive(name: string): boolean {
    const t = this.services.get(name);
    if (!t) return false;
    for (const [pid, start] of t.known) {
      if (this.reapedSinceRead.has(pid)) continue;
      const p = readProc(pid);
      if (p && p.starttime === start && p.state !== "Z") return true;
    }
    return this.members(name).length > 0;
  }

  /** The service a known member pid belongs to. */
  ownerOf(pid: number): string | undefined {
    return this.owners.get(pid);
  }

  forget(name: string): void {
    const t = this.services.get(name);
    if (t) this.setKnown(name, t, []);
    this.services.delete(name);
  }

  private setKnown(name: string, t: Tracked, live: ProcInfo[]): void {
    for (const pid of t.known.keys()) if (this.owners.get(pid) === name) this.owners.delete(pid);
    t.known.clear();
    for (const p of live) {
      t.known.set(p.pid, p.starttime);
      this.owners.set(p.pid, name);
    }
  }

  private current(): ProcTable {
    if (!this.table) {
      this.table = ProcTable.read();
      queueMicrotask(() => {
        this.table = null;
        this.reapedSinceRead.clear();
      });
    }
    return this.table;
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
