// system_shutdown and system_reboot against the compiled daemon as PID 1: the reply arrives, the
// services are stopped, and the daemon ends the way its mode requires. Each test needs its own
// daemon because each one ends it.

import { afterEach, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Conn } from "../helpers/conn.ts";
import { AS_ROOT } from "../helpers/privilege.ts";
import { shuttingDownError } from "../helpers/rpc-errors.ts";
import { Zinit } from "../helpers/zinit.ts";
import { ask, outputMatches, readText } from "./lib.ts";

setDefaultTimeout(60_000);

let z: Zinit | null = null;
let work = "";

afterEach(async () => {
  await z?.stop();
  z = null;
  if (work) rmSync(work, { recursive: true, force: true });
  work = "";
});

/** Records its clean stop in `<work>/<name>.stop`, then exits 0. */
const recorder = (name: string) =>
  `exec: sh -c 'trap "echo stopped >> ${work}/${name}.stop; exit 0" TERM; sleep 1000 & wait'\n`;

/** Ignores SIGTERM, so the shutdown waits its shutdown_timeout and then SIGKILLs it. */
const STUBBORN =
  "exec: sh -c 'trap \"\" TERM; while :; do sleep 1000 & wait; done'\nshutdown_timeout: 2\n";

async function bootWith(container: boolean): Promise<Zinit> {
  work = mkdtempSync(join(tmpdir(), "zinit-e2e-power-"));
  z = await Zinit.boot({
    container,
    services: { "app.yaml": recorder("app"), "stubborn.yaml": STUBBORN },
  });
  await z.waitState("app", "Running");
  await z.waitState("stubborn", "Running");
  return z;
}

AS_ROOT.describe("system_shutdown (container)", () => {
  test("replies null, refuses everything mutating while it runs, stops services, exits 0", async () => {
    const d = await bootWith(true);
    const c = new Conn(d.socket);
    await c.send('{"jsonrpc":"2.0","id":1,"method":"system_shutdown"}\n');
    await c.count(1);
    expect(c.lines[0]).toBe('{"jsonrpc":"2.0","result":null,"id":1}');
    c.close();

    // stubborn holds the shutdown for its 2 s timeout: the daemon still answers meanwhile.
    expect((await ask(d.socket, "system_shutdown")).error).toEqual(
      shuttingDownError("system shutdown", null),
    );
    expect((await ask(d.socket, "system_reboot")).error).toEqual(
      shuttingDownError("system reboot", null),
    );
    expect((await ask(d.socket, "service_start", ["app"])).error).toEqual(
      shuttingDownError("starting service", "app"),
    );
    expect((await ask(d.socket, "service_monitor", ["other"])).error).toEqual(
      shuttingDownError("monitoring service", "other"),
    );

    expect(await d.exited).toBe(0);
    expect(readText(`${work}/app.stop`)).toBe("stopped\n");
    await outputMatches(
      d,
      /service stubborn did not stop in 2 s: sending SIGKILL\n(.*\n)*.*all services stopped; exiting\n$/,
    );
  });
});

AS_ROOT.describe("power in init mode (PID 1 of a PID namespace, no --container)", () => {
  // reboot(2) inside a PID namespace ends the namespace's init: "killed" by SIGHUP for a reboot,
  // SIGINT for a power-off. `unshare --fork` re-raises its child's fatal signal on itself, so
  // Bun sees unshare killed by that signal and resolves `exited` with 128 + the signal number.
  test("system_reboot: services stopped, then the namespace's init ends by SIGHUP", async () => {
    const d = await bootWith(false);
    expect(await d.rpc("system_reboot")).toBeNull();
    expect(await d.exited).toBe(128 + 1);
    expect(d.proc.signalCode).toBe("SIGHUP");
    expect(readText(`${work}/app.stop`)).toBe("stopped\n");
    await outputMatches(
      d,
      /service stubborn did not stop in 2 s: sending SIGKILL\n(.*\n)*.*rebooting\n$/,
    );
  });

  test("system_shutdown: services stopped, then the namespace's init ends by SIGINT", async () => {
    const d = await bootWith(false);
    expect(await d.rpc("system_shutdown")).toBeNull();
    expect(await d.exited).toBe(128 + 2);
    expect(d.proc.signalCode).toBe("SIGINT");
    expect(readText(`${work}/app.stop`)).toBe("stopped\n");
    await outputMatches(d, /powering off\n$/);
  });
});
