// Readiness and health against the compiled daemon as PID 1: tcp, http and log probes holding
// a dependent back until they pass; services that say themselves they are ready (a newline on
// READY_FD, sd_notify from python and from systemd-notify), how long zinit takes to believe
// them, and their STATUS= in status; /readyz turning 200 as they come up; liveness probes (a
// command, a log line) and the watchdog restarting a service; MAINPID= from a forking daemon and
// from a wrapper script. The test decides when each service gets ready, by writing to a FIFO
// the service blocks on, and follows the daemon through its event stream.
// (`zinit ready` and /metrics: waits.test.ts and metrics.test.ts.)

import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Conn } from "../helpers/conn.ts";
import { AS_ROOT } from "../helpers/privilege.ts";
import { cli, Zinit } from "../helpers/zinit.ts";
import { freePort, nsPids, outputMatches } from "./lib.ts";

// Restarts, watchdogs and probes take seconds on a loaded machine.
setDefaultTimeout(60_000);

/** One service in an item of stream_subscribeEvents: after a change, or in the snapshot. */
interface Change {
  name: string;
  state: string;
  target: string;
  pid: number;
  phase: string;
  ready: boolean;
  reason: string;
  time: number;
}

/**
 * The daemon's event stream, read in order per service: each `next` of a service looks only
 * after the change of it found last.
 */
class Events {
  private readonly cursors = new Map<string, number>();

  private constructor(private readonly conn: Conn) {}

  static async open(socket: string): Promise<Events> {
    const conn = new Conn(socket);
    const reply = await conn.call(1, "stream_subscribeEvents");
    if (reply.error) throw new Error(`subscribe: ${reply.error.message}`);
    return new Events(conn);
  }

  /** Where every service stood at the subscription, then every change, in order. */
  changes(): Change[] {
    return this.conn.messages.flatMap((m) => {
      if (m.method !== "stream_subscribeEvents") return [];
      const item = m.params?.result as unknown as
        | ({ event: "change" } & Change)
        | { event: "snapshot"; services: Change[] }
        | undefined;
      if (item?.event === "snapshot") return item.services;
      return item?.event === "change" ? [item] : [];
    });
  }

  /** The next change of `name` that satisfies `pred`. */
  async next(name: string, pred: (c: Change) => boolean, what: string): Promise<Change> {
    const deadline = performance.now() + 30_000;
    const from = this.cursors.get(name) ?? 0;
    for (;;) {
      const all = this.changes();
      for (let i = from; i < all.length; i++) {
        const c = all[i] as Change;
        if (c.name === name && pred(c)) {
          this.cursors.set(name, i + 1);
          return c;
        }
      }
      if (performance.now() > deadline) {
        const seen = all.slice(from).filter((c) => c.name === name);
        throw new Error(`no event: ${name} ${what}; got ${JSON.stringify(seen)}`);
      }
      // Resolves at the next line that arrives (or throws when none comes in time).
      await this.conn.find(() => true, `an event after ${name} ${what}`, this.conn.lines.length);
    }
  }

  running(name: string): Promise<Change> {
    return this.next(name, (c) => c.state === "Running", "Running");
  }

  close(): void {
    this.conn.close();
  }
}

const yaml = (fields: Record<string, unknown>) => `${JSON.stringify(fields, null, 1)}\n`;

/** Lets a service blocked on its FIFO go on (the write waits for the reader, off the event loop). */
const release = (fifo: string) => writeFile(fifo, "go\n");

const mkfifo = (path: string) => {
  const r = Bun.spawnSync(["mkfifo", path]);
  if (r.exitCode !== 0) throw new Error(`mkfifo ${path}: ${r.stderr}`);
};

const inspect = (z: Zinit, name: string) =>
  z.rpc("service_inspect", [name]) as Promise<{
    pid: number;
    restarts: number;
    status_text: string;
    reloading: boolean;
    check_failure: string;
    probes: Record<"ready" | "live", { failures: number; last_duration_ms: number | null }>;
  }>;

/** The comm of a pid of the daemon's namespace (as the daemon reports pids). */
const commOf = (z: Zinit, nspid: number) => nsPids(z).get(nspid)?.comm;

let dir = "";
AS_ROOT.beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "zinit-health-"));
  const scripts: Record<string, string> = {
    // sd_notify from python: READY=1 and STATUS= once the test says go; the send time, after.
    // Then a reload, as systemd's Type=notify-reload services do it: RELOADING=1 at the next go,
    // READY=1 at the one after.
    "sd.py": `
import os, socket, sys, time
open(sys.argv[1]).read()
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
t = time.time()
s.sendto(b"READY=1\\nSTATUS=serving 3 clients", os.environ["NOTIFY_SOCKET"])
open(sys.argv[2], "w").write(repr(t))
open(sys.argv[1]).read()
s.sendto(b"RELOADING=1", os.environ["NOTIFY_SOCKET"])
open(sys.argv[1]).read()
s.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])
while True:
    time.sleep(1000)
`,
    // s6 / dinit style: a newline on the fd named by READY_FD.
    "fd.py": `
import os, sys, time
fd = int(os.environ["READY_FD"])
open(sys.argv[1]).read()
t = time.time()
os.write(fd, b"\\n")
os.close(fd)
open(sys.argv[2], "w").write(repr(t))
while True:
    time.sleep(1000)
`,
    // Ready at once; WATCHDOG=1 every 100 ms while the pet file exists; how many were sent.
    "watchdog.py": `
import os, socket, sys, time
pet, out = sys.argv[1], sys.argv[2]
open(out + ".env", "w").write(os.environ.get("WATCHDOG_USEC", "(unset)"))
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
addr = os.environ["NOTIFY_SOCKET"]
s.sendto(b"READY=1", addr)
n = 0
while True:
    if os.path.exists(pet):
        s.sendto(b"WATCHDOG=1", addr)
        n += 1
        open(out, "w").write(str(n))
    time.sleep(0.1)
`,
    // A daemon that forks: the child (in a session of its own) serves; the parent says so, waits
    // until zinit has read it (sd_notify_barrier(3): a pipe zinit closes) and exits.
    "forker.py": `
import array, os, socket, time
addr = os.environ["NOTIFY_SOCKET"]
pid = os.fork()
if pid == 0:
    os.setsid()
    while True:
        time.sleep(1000)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(("MAINPID=%d\\nREADY=1\\nSTATUS=forked %d" % (pid, pid)).encode(), addr)
r, w = os.pipe()
fds = array.array("i", [w])
s.sendmsg([b"BARRIER=1"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)], 0, addr)
os.close(w)
os.read(r, 1)
os._exit(0)
`,
    // Names a pid that is not its own: zinit's.
    "stranger.py": `
import os, socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"MAINPID=1\\nREADY=1", os.environ["NOTIFY_SOCKET"])
while True:
    time.sleep(1000)
`,
    // The daemon of a wrapper script: ends with code 7 when the test says go.
    "job.py": `
import sys
open(sys.argv[1]).read()
sys.exit(7)
`,
  };
  for (const [file, text] of Object.entries(scripts)) writeFileSync(join(dir, file), text);
  for (const f of ["log.fifo", "sd.fifo", "fd.fifo", "sn.fifo", "job.fifo"]) mkfifo(join(dir, f));
});
AS_ROOT.afterAll(() => rmSync(dir, { recursive: true, force: true }));

AS_ROOT.describe("readiness gates dependents; notifications; /readyz", () => {
  let z: Zinit;
  let events: Events;
  const tcpPort = freePort();
  const httpPort = freePort();
  const apiPort = freePort();
  let httpStatus = 503;
  let httpRequests = 0;
  let httpProbed: () => void = () => {};
  const httpServer = Bun.serve({
    hostname: "127.0.0.1",
    port: httpPort,
    fetch(req) {
      if (new URL(req.url).pathname !== "/ready") return new Response("no", { status: 404 });
      httpRequests++;
      httpProbed();
      return new Response("", { status: httpStatus });
    },
  });
  const after = (name: string) => yaml({ exec: "sleep 1000", after: [name] });

  beforeAll(async () => {
    z = await Zinit.boot({
      services: {
        "tcp.yaml": yaml({
          exec: "sleep 1000",
          health: { ready: { tcp: `127.0.0.1:${tcpPort}`, interval_ms: 50 } },
        }),
        "after-tcp.yaml": after("tcp"),
        "http.yaml": yaml({
          exec: "sleep 1000",
          health: {
            ready: { http: `http://127.0.0.1:${httpPort}/ready`, status: 200, interval_ms: 50 },
          },
        }),
        "after-http.yaml": after("http"),
        "log.yaml": yaml({
          exec: `sh -c 'echo booting; read x < ${dir}/log.fifo; echo listening on :8080; exec sleep 1000'`,
          health: { ready: { log: "^listening on :\\d+$" } },
        }),
        "after-log.yaml": after("log"),
        "sd.yaml": yaml({
          exec: `python3 ${dir}/sd.py ${dir}/sd.fifo ${dir}/sd.sent`,
          notify: "systemd",
        }),
        "fd.yaml": yaml({
          exec: `python3 ${dir}/fd.py ${dir}/fd.fifo ${dir}/fd.sent`,
          notify: "fd:5",
        }),
        "sn.yaml": yaml({
          exec: `sh -c 'read x < ${dir}/sn.fifo; systemd-notify --ready --status="via systemd-notify"; exec sleep 1000'`,
          notify: "systemd",
        }),
      },
      extraArgs: ["--http", `127.0.0.1:${apiPort}`],
    });
    events = await Events.open(z.socket);
  });

  afterAll(async () => {
    events?.close();
    await z?.stop();
    httpServer.stop(true);
  });

  const readyz = async () => {
    const res = await fetch(`http://127.0.0.1:${apiPort}/readyz`);
    return { status: res.status, body: (await res.json()) as { not_ready: { name: string }[] } };
  };

  test("/readyz is 503 naming every service not ready yet", async () => {
    const { status, body } = await readyz();
    expect(status).toBe(503);
    // The notified and probed services, and those waiting for them.
    expect(body.not_ready.map((s) => s.name).sort()).toEqual([
      "after-http",
      "after-log",
      "after-tcp",
      "fd",
      "http",
      "log",
      "sd",
      "sn",
      "tcp",
    ]);
  });

  test("tcp probe: the dependent stays Blocked while connections are refused, then starts", async () => {
    await z.waitFor(
      async () => (await inspect(z, "tcp")).probes.ready.failures >= 2,
      20_000,
      "two refused connections",
    );
    expect((await inspect(z, "tcp")).check_failure).toMatch(
      new RegExp(`^readiness check: connect 127\\.0\\.0\\.1:${tcpPort}: .*\\(attempt \\d+\\)`),
    );
    expect(await z.list()).toMatchObject({ tcp: "Spawned", "after-tcp": "Blocked" });
    const listener = Bun.listen({
      hostname: "127.0.0.1",
      port: tcpPort,
      socket: { data() {}, open: (s) => void s.end() },
    });
    try {
      const ready = await events.running("tcp");
      const dependent = await events.running("after-tcp");
      expect(dependent.time).toBeGreaterThanOrEqual(ready.time);
    } finally {
      listener.stop(true);
    }
  });

  test("http probe: a 503 holds the dependent back, a 200 releases it", async () => {
    await new Promise<void>((resolve) => {
      httpProbed = () => httpRequests >= 2 && resolve();
      httpProbed();
    });
    const failing = await inspect(z, "http");
    expect(failing.check_failure).toMatch(
      new RegExp(`^readiness check: GET http://127\\.0\\.0\\.1:${httpPort}/ready: status 503`),
    );
    expect(await z.list()).toMatchObject({ http: "Spawned", "after-http": "Blocked" });
    httpStatus = 200;
    await events.running("http");
    await events.running("after-http");
  });

  test("log probe: Running at the first matching line of the service's output", async () => {
    expect(await z.list()).toMatchObject({ log: "Spawned", "after-log": "Blocked" });
    await release(join(dir, "log.fifo"));
    await events.running("log");
    await events.running("after-log");
    const ring = await cli(z.socket, "log", "-s", "log");
    expect(ring.stdout).toContain("log: booting\n");
    expect(ring.stdout).toContain("log: listening on :8080\n");
  });

  test("fd style and sd_notify from python: Running within milliseconds of notifying", async () => {
    for (const name of ["fd", "sd"]) {
      expect((await z.list())[name]).toBe("Spawned");
      await release(join(dir, `${name}.fifo`));
      const running = await events.running(name);
      const stamp = join(dir, `${name}.sent`);
      await z.waitFor(() => existsSync(stamp) && readFileSync(stamp, "utf8") !== "");
      const sentMs = Number(readFileSync(stamp, "utf8")) * 1000;
      const latency = running.time - sentMs;
      console.log(`${name}: Running ${latency.toFixed(1)} ms after the notification`);
      expect(latency).toBeGreaterThan(-5); // the two clocks are the same wall clock
      // Generous for a loaded machine; the bench measures it properly.
      expect(latency).toBeLessThan(250);
    }
  });

  test("STATUS= is in status -v and --json; systemd-notify itself is a sender", async () => {
    const v = await cli(z.socket, "status", "-v", "sd");
    expect(v.code).toBe(0);
    expect(v.stdout).toContain("\nstatus_text: serving 3 clients\n");
    const json = JSON.parse((await cli(z.socket, "status", "--json", "sd")).stdout);
    expect(json).toMatchObject({ name: "sd", state: "Running", status_text: "serving 3 clients" });
    expect((await z.list()).sn).toBe("Spawned");
    await release(join(dir, "sn.fifo"));
    await events.running("sn");
    expect((await inspect(z, "sn")).status_text).toBe("via systemd-notify");
  });

  test("RELOADING=1 … READY=1: shown in service_inspect and logged; Running throughout", async () => {
    const pid = (await inspect(z, "sd")).pid;
    await release(join(dir, "sd.fifo"));
    await outputMatches(z, /service sd: reloading \(RELOADING=1\)\n/);
    expect(await inspect(z, "sd")).toMatchObject({ reloading: true, state: "Running", pid });
    await release(join(dir, "sd.fifo"));
    await outputMatches(z, /service sd: reloaded \(READY=1\)\n/);
    expect(await inspect(z, "sd")).toMatchObject({ reloading: false, state: "Running", pid });
  });

  test("/readyz is 200 once every service is up", async () => {
    const { status, body } = await readyz();
    expect(body.not_ready).toEqual([]);
    expect(status).toBe(200);
    // No stranger was heard: every notification came from a process of its service.
    expect(z.output).not.toContain("ignored a notification");
  });
});

AS_ROOT.describe("liveness and the watchdog", () => {
  let z: Zinit;
  let events: Events;
  const alive = () => join(dir, "alive");
  const beat = () => join(dir, "beat");
  const pet = () => join(dir, "pet");

  beforeAll(async () => {
    for (const f of [alive(), beat(), pet()]) writeFileSync(f, "");
    z = await Zinit.boot({
      services: {
        "live.yaml": yaml({
          exec: "sleep 1000",
          health: { live: { exec: `test -e ${alive()}`, period_ms: 100, failure_threshold: 3 } },
        }),
        "heartbeat.yaml": yaml({
          exec: `sh -c 'while :; do [ -e ${beat()} ] && echo heartbeat; sleep 0.05; done'`,
          health: { live: { log: "^heartbeat$", period_ms: 300, failure_threshold: 2 } },
        }),
        "watchdog.yaml": yaml({
          exec: `python3 ${dir}/watchdog.py ${pet()} ${dir}/pets`,
          notify: "systemd",
          watchdog_ms: 400,
        }),
      },
    });
    events = await Events.open(z.socket);
  });

  afterAll(async () => {
    events?.close();
    await z?.stop();
  });

  test("a liveness command failing 3 times in a row restarts the service, saying why", async () => {
    await z.waitFor(
      async () => (await inspect(z, "live")).probes.live.last_duration_ms !== null,
      20_000,
      "a first liveness check",
    );
    const before = await inspect(z, "live");
    expect(before.probes.live.failures).toBe(0);
    rmSync(alive());
    const stopping = await events.next("live", (c) => c.phase === "stopping", "stopping");
    expect(stopping.reason).toBe("liveness check exited with code 1 (3 of 3 in a row)");
    writeFileSync(alive(), "");
    const again = await events.running("live");
    expect(again.pid).not.toBe(before.pid);
    expect(commOf(z, again.pid)).toBe("sleep");
    const after = await inspect(z, "live");
    expect(after.restarts).toBe(1);
    expect(after.probes.live.failures).toBe(3);
    await outputMatches(z, /service live: liveness check exited with code 1 \(1 of 3\)\n/);
    await outputMatches(
      z,
      /service live: liveness check exited with code 1 \(3 of 3 in a row\); stopping it\n/,
    );
  });

  test("a log liveness probe: no matching line for 2 periods restarts the service", async () => {
    const first = (await z.status("heartbeat")).pid;
    await z.waitFor(
      async () => (await inspect(z, "heartbeat")).probes.live.last_duration_ms !== null,
      20_000,
      "a first liveness check",
    );
    expect((await inspect(z, "heartbeat")).probes.live.failures).toBe(0);
    rmSync(beat());
    const stopping = await events.next("heartbeat", (c) => c.phase === "stopping", "stopping");
    expect(stopping.reason).toBe(
      "liveness check: no output line matched since the previous check (2 of 2 in a row)",
    );
    writeFileSync(beat(), "");
    const again = await events.running("heartbeat");
    expect(again.pid).not.toBe(first);
  });

  test("the watchdog: kept alive by WATCHDOG=1, restarted when it stops coming", async () => {
    const running = await events.running("watchdog");
    expect(readFileSync(join(dir, "pets.env"), "utf8")).toBe("400000");
    // Eight pets are 800 ms, twice the watchdog: it would have fired without them.
    await z.waitFor(
      () => Number(readFileSync(join(dir, "pets"), { encoding: "utf8", flag: "a+" })) >= 8,
      20_000,
      "8 pets",
    );
    expect(await inspect(z, "watchdog")).toMatchObject({ pid: running.pid, restarts: 0 });
    rmSync(pet());
    const stopping = await events.next("watchdog", (c) => c.phase === "stopping", "stopping");
    expect(stopping.reason).toBe("no WATCHDOG=1 within 400 ms");
    writeFileSync(pet(), "");
    const again = await events.running("watchdog");
    expect(again.pid).not.toBe(running.pid);
    await outputMatches(z, /service watchdog: no WATCHDOG=1 within 400 ms; stopping it\n/);
  });
});

AS_ROOT.describe("MAINPID", () => {
  let z: Zinit;
  let events: Events;

  beforeAll(async () => {
    z = await Zinit.boot({
      services: {
        "forker.yaml": yaml({ exec: `python3 ${dir}/forker.py`, notify: "systemd" }),
        "stranger.yaml": yaml({ exec: `python3 ${dir}/stranger.py`, notify: "systemd" }),
        "wrapped.yaml": yaml({
          exec: `sh -c 'python3 ${dir}/job.py ${dir}/job.fifo & systemd-notify --ready --pid=$!; wait $!'`,
          notify: "systemd",
          restart: "never",
        }),
      },
    });
    events = await Events.open(z.socket);
  });

  afterAll(async () => {
    events?.close();
    await z?.stop();
  });

  test("a forking daemon: the child it names is the main process, tracked and signalled", async () => {
    const { pid } = await events.running("forker");
    const detail = await inspect(z, "forker");
    expect(detail).toMatchObject({ pid, restarts: 0, status_text: `forked ${pid}` });
    // The parent has exited; the child it forked is the one left, in a session of its own.
    expect(commOf(z, pid)).toBe("python3");
    await outputMatches(z, new RegExp(`service forker: main process is now pid ${pid} \\(`));
    expect(await cli(z.socket, "kill", "forker", "SIGKILL")).toMatchObject({ code: 0, stderr: "" });
    const exited = await events.next("forker", (c) => c.pid === 0, "exited");
    expect(exited.state).toBe(`Error(Signaled(Pid(${pid}), SIGKILL, false))`);
    const again = await events.running("forker");
    expect(again.pid).not.toBe(pid);
    expect((await cli(z.socket, "stop", "forker")).code).toBe(0);
    expect(commOf(z, again.pid)).toBeUndefined();
  });

  test("a MAINPID naming a process that is not the service's is ignored", async () => {
    const { pid } = await events.running("stranger");
    expect(commOf(z, pid)).toBe("python3");
    await outputMatches(
      z,
      new RegExp(`service stranger: ignored MAINPID="1" from pid ${pid}: not one of its processes`),
    );
  });

  test("systemd-notify --pid in a wrapper: the daemon's exit ends the run, reaped by the wrapper", async () => {
    const running = await events.running("wrapped");
    expect(commOf(z, running.pid)).toBe("python3");
    await release(join(dir, "job.fifo"));
    const ended = await events.next("wrapped", (c) => c.pid === 0, "ended");
    expect(ended.state).toBe(`Error(Exited(Pid(${running.pid}), 7))`);
  });
});
