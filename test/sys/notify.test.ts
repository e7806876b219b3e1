// The sd_notify socket with real senders: a python3 datagram, systemd-notify (with its BARRIER
// fd), and many datagrams in a burst, all woken by SIGIO with no polling.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openNotifySocket } from "../../src/sys/notify.ts";
import type { Datagram } from "../../src/sys/port.ts";

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "zinit-notify-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

/** What each of our fds is (`pipe:[123]`, a path…). */
function openFiles(): string[] {
  return readdirSync("/proc/self/fd").flatMap((fd) => {
    try {
      return [readlinkSync(`/proc/self/fd/${fd}`)];
    } catch {
      return []; // the directory's own fd, closed by now
    }
  });
}

const PY_SEND = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for text in sys.argv[2:]:
    s.sendto(text.encode(), sys.argv[1])
print(os.getpid())
`;

describe("notify socket", () => {
  test("a datagram arrives with its sender's pid; the socket is 0600", async () => {
    const got: Datagram[] = [];
    const path = join(dir, "a.sock");
    const sock = openNotifySocket(path, (d) => got.push(d));
    if (!sock.ok) throw new Error(sock.error);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const py = Bun.spawnSync(["python3", "-c", PY_SEND, path, "READY=1\nSTATUS=up", "WATCHDOG=1"]);
    const pid = Number(py.stdout.toString().trim());
    await until("two datagrams", () => got.length === 2);
    expect(got).toEqual([
      { pid, text: "READY=1\nSTATUS=up" },
      { pid, text: "WATCHDOG=1" },
    ]);
    sock.close();
    expect(() => statSync(path)).toThrow();
  });

  test("systemd-notify (BARRIER=1 sends an fd it waits on) returns at once", async () => {
    if (Bun.which("systemd-notify") === null) {
      console.warn("skipped: systemd-notify is not installed (Debian package systemd)");
      return;
    }
    const got: Datagram[] = [];
    const path = join(dir, "b.sock");
    const sock = openNotifySocket(path, (d) => got.push(d));
    if (!sock.ok) throw new Error(sock.error);
    const started = performance.now();
    const proc = Bun.spawn(["systemd-notify", "--ready", "--status=hello"], {
      env: { ...process.env, NOTIFY_SOCKET: path },
      stderr: "pipe",
    });
    expect(await proc.exited).toBe(0);
    // It would wait 5 s for the barrier fd to be closed.
    expect(performance.now() - started).toBeLessThan(3_000);
    await until("its notification", () => got.some((d) => d.text.includes("READY=1")));
    expect(got.find((d) => d.text.includes("READY=1"))?.text).toContain("STATUS=hello");
    sock.close();
  });

  test("a barrier's pipe is closed after its datagram was handled, not before", async () => {
    // What the process had open while the receiver ran: a sender waiting on the pipe
    // (systemd-notify) cannot have exited then, so it is still there to be checked.
    const openWhileHandled: string[][] = [];
    const path = join(dir, "barrier.sock");
    const sock = openNotifySocket(path, (d) => {
      if (d.text !== "BARRIER=1") return;
      openWhileHandled.push(openFiles());
    });
    if (!sock.ok) throw new Error(sock.error);
    const sender = Bun.spawn(
      [
        "python3",
        "-c",
        `
import array, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
r, w = os.pipe()
print(os.fstat(w).st_ino, flush=True)
s.sendmsg([b"BARRIER=1"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [w]))], 0, sys.argv[1])
os.close(w)
os.read(r, 1)  # returns once every copy of w is closed
`,
        path,
      ],
      { stdout: "pipe" },
    );
    // It returns only once our copy is closed.
    expect(await sender.exited).toBe(0);
    const ino = (await new Response(sender.stdout).text()).trim();
    expect(openWhileHandled).toHaveLength(1);
    expect(openWhileHandled[0]).toContain(`pipe:[${ino}]`);
    // And closed it is, after.
    expect(openFiles()).not.toContain(`pipe:[${ino}]`);
    sock.close();
  });

  test("a burst of 2000 datagrams: every one delivered, none lost to coalesced SIGIOs", async () => {
    const got: Datagram[] = [];
    const path = join(dir, "c.sock");
    const sock = openNotifySocket(path, (d) => got.push(d));
    if (!sock.ok) throw new Error(sock.error);
    const burst = `
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for i in range(2000):
    while True:
        try:
            s.sendto(("WATCHDOG=1\\nN=%d" % i).encode(), sys.argv[1]); break
        except BlockingIOError:
            time.sleep(0.001)
        except OSError:
            time.sleep(0.001)
`;
    const proc = Bun.spawn(["python3", "-c", burst, path]);
    expect(await proc.exited).toBe(0);
    await until("2000 datagrams", () => got.length === 2000);
    expect(got.map((d) => Number(d.text.split("N=")[1]))).toEqual([...Array(2000).keys()]);
    sock.close();
  });

  test("a path longer than a socket can hold is refused with a reason", () => {
    const sock = openNotifySocket(join(dir, "x".repeat(120)), () => {});
    expect(sock).toEqual({ ok: false, error: expect.stringContaining("longer than 107 bytes") });
  });
});
