// Which processes belong to a service. Without cgroups, membership is: every process in the
// process group of a session the service's main process led (pgid = sid = that pid), every
// process already seen as a member (identified by pid and start time, so a reused pid is not
// mistaken for it), and all their descendants. Remembering members matters: once a parent dies,
// a child that left the session with setsid is reparented to us and could no longer be traced
// back to the service.
//
// Costs stay proportional to the service's own processes: descendants are found through
// /proc/<pid>/task/<tid>/children, and "is anything left" asks the kernel about each session's
// process group (kill(-pgid, 0)) and reads the /proc entry of each known member, always fresh.
// Only orphans that left the session's group but not the session (rare) need a scan of every
// process; that scan is shared by every service for SCAN_MAX_AGE_MS, or for 20 times as long as
// the last scan took, so scanning never takes more than a twentieth of the time however many
// processes there are: a shutdown of thousands of services stays linear.

import type { ProcInfo, Sys } from "../sys/port.ts";

/** How long one full scan of /proc may serve for finding orphans in a service's sessions. */
const SCAN_MAX_AGE_MS = 1_000;
/** A scan serves at least this many times as long as it took. */
const SCAN_AGE_FACTOR = 20;
/** How many parents `owns` walks up before it gives up on a pid. */
const MAX_ANCESTRY = 64;
/**
 * The start time of a main process, not read yet: it is our child, so its pid cannot be reused
 * before we reap it, and reaping forgets it (`ownerOfExit`). Reading /proc/<pid>/stat of a
 * process in the middle of its exec costs more than the rest of a spawn; the first look at the
 * member records the real start time.
 */
const OUR_CHILD = -1;

/** Is `p` the process remembered with start time `start`? */
const isMember = (start: number | undefined, p: ProcInfo) =>
  start !== undefined && (start === OUR_CHILD || start === p.starttime);

interface Tracked {
  /** Sessions led by the service's main processes, current and earlier runs with leftovers. */
  sessions: Set<number>;
  /** pid → start time of processes seen as members. */
  known: Map<number, number>;
}

export class ProcessTracker {
  private readonly services = new Map<string, Tracked>();
  /** Known member pid → its service, so a reaped pid tells which service to look at again. */
  private readonly ownerByPid = new Map<number, string>();
  private readonly ownerBySession = new Map<number, string>();
  private scan: { at: number; serves: number; bySid: Map<number, ProcInfo[]> } | null = null;

  constructor(private readonly sys: Sys) {}

  /** A new main process: it leads a new session (spawned with setsid). */
  addSession(name: string, pid: number): void {
    const t = this.entry(name);
    t.sessions.add(pid);
    this.ownerBySession.set(pid, name);
    t.known.set(pid, OUR_CHILD);
    this.ownerByPid.set(pid, name);
  }

  /**
   * A process the service named its main one (`MAINPID=`): a member from now on, even once it
   * is reparented to us; a session it leads is the service's too.
   */
  adopt(name: string, pid: number): void {
    const info = this.sys.proc(pid);
    if (!info) return;
    const t = this.entry(name);
    this.remember(name, t, info);
    if (info.sid === pid) {
      t.sessions.add(pid);
      this.ownerBySession.set(pid, name);
    }
  }

  /** Whether `pid` is still there (a zombie counts) and, if it is a known member, still that one. */
  alive(name: string, pid: number): boolean {
    const p = this.sys.proc(pid);
    const start = this.services.get(name)?.known.get(pid);
    return p !== null && (start === undefined || isMember(start, p));
  }

  /** The service a reaped process belonged to: by its pid, else by the session it was in. */
  ownerOfExit(pid: number, info: ProcInfo | null): string | undefined {
    const name = this.ownerByPid.get(pid) ?? (info ? this.ownerBySession.get(info.sid) : undefined);
    const t = name === undefined ? undefined : this.services.get(name);
    if (t?.known.delete(pid)) this.ownerByPid.delete(pid);
    return name;
  }

  /** Live processes of the service (zombies excluded); each one found is remembered. */
  members(name: string): ProcInfo[] {
    const t = this.services.get(name);
    if (!t) return [];
    const found = new Map<number, ProcInfo>();
    const stack: ProcInfo[] = [];
    const visit = (p: ProcInfo | null) => {
      if (p && !found.has(p.pid) && p.pid !== this.sys.self()) {
        found.set(p.pid, p);
        stack.push(p);
      }
    };
    for (const [pid, start] of t.known) {
      const p = this.sys.proc(pid);
      if (p && isMember(start, p)) visit(p);
    }
    for (const sid of t.sessions) {
      for (const p of this.scanned(sid)) visit(this.sys.proc(p.pid));
    }
    let walkable = true;
    for (let p = stack.pop(); p !== undefined; p = stack.pop()) {
      const kids = walkable ? this.sys.children(p.pid) : null;
      if (kids === null) {
        walkable = false;
        continue;
      }
      for (const kid of kids) visit(this.sys.proc(kid));
    }
    if (!walkable) {
      // No children files: fall back to a full scan for descendants.
      const byParent = new Map<number, ProcInfo[]>();
      for (const p of this.sys.allProcs()) push(byParent, p.ppid, p);
      const again = [...found.values()];
      for (let p = again.pop(); p !== undefined; p = again.pop()) {
        for (const kid of byParent.get(p.pid) ?? []) {
          if (!found.has(kid.pid) && kid.pid !== this.sys.self()) {
            found.set(kid.pid, kid);
            again.push(kid);
          }
        }
      }
    }
    const live = [...found.values()].filter((p) => p.state !== "Z");
    for (const p of live) this.remember(name, t, p);
    return live;
  }

  /**
   * Whether any process of the service is left, asked fresh: a process group of one of its
   * sessions that is not empty (zombies count: they are reaped next), or a known member that is
   * still there. Sessions whose group has emptied are dropped.
   */
  anyAlive(name: string): boolean {
    const t = this.services.get(name);
    if (!t) return false;
    for (const sid of t.sessions) {
      if (this.sys.groupExists(sid)) return true;
      t.sessions.delete(sid);
      if (this.ownerBySession.get(sid) === name) this.ownerBySession.delete(sid);
    }
    for (const [pid, start] of t.known) {
      const p = this.sys.proc(pid);
      if (p && isMember(start, p)) return true;
      t.known.delete(pid);
      if (this.ownerByPid.get(pid) === name) this.ownerByPid.delete(pid);
    }
    return false;
  }

  /**
   * Whether `pid` is a process of the service: a known member, a process in one of its sessions,
   * or a descendant of one (walking parents, at most MAX_ANCESTRY steps). Asked fresh.
   */
  owns(name: string, pid: number): boolean {
    const t = this.services.get(name);
    if (!t || pid <= 0) return false;
    let p = this.sys.proc(pid);
    for (let step = 0; p && step < MAX_ANCESTRY; step++) {
      if (isMember(t.known.get(p.pid), p) || t.sessions.has(p.sid)) return true;
      if (p.ppid <= 1 || p.ppid === this.sys.self()) return false;
      p = this.sys.proc(p.ppid);
    }
    return false;
  }

  forget(name: string): void {
    const t = this.services.get(name);
    if (!t) return;
    for (const pid of t.known.keys())
      if (this.ownerByPid.get(pid) === name) this.ownerByPid.delete(pid);
    for (const sid of t.sessions)
      if (this.ownerBySession.get(sid) === name) this.ownerBySession.delete(sid);
    this.services.delete(name);
  }

  private remember(name: string, t: Tracked, p: ProcInfo): void {
    t.known.set(p.pid, p.starttime);
    this.ownerByPid.set(p.pid, name);
  }

  /** Processes of session `sid` in the shared scan (refreshed when older than SCAN_MAX_AGE_MS). */
  private scanned(sid: number): ProcInfo[] {
    const now = this.sys.now();
    if (!this.scan || now - this.scan.at > this.scan.serves) {
      const bySid = new Map<number, ProcInfo[]>();
      for (const p of this.sys.allProcs()) push(bySid, p.sid, p);
      const took = this.sys.now() - now;
      this.scan = { at: now, serves: Math.max(SCAN_MAX_AGE_MS, took * SCAN_AGE_FACTOR), bySid };
    }
    return this.scan.bySid.get(sid) ?? [];
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

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
