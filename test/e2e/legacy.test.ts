// The v0.2.14 line protocol against the compiled daemon as PID 1: every command, the exact reply
// bytes (sorted keys, no newline, then close), `log` streaming, and `shutdown` ending the daemon.

import { expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TIMEOUT } from "../helpers/conn.ts";
import { AS_ROOT } from "../helpers/privilege.ts";
import { Zinit } from "../helpers/zinit.ts";
import { askRaw, nsPids, outputMatches, readText } from "./lib.ts";

setDefaultTimeout(60_000);

let z: Zinit;
let work: string;
const OK = '{"state":"ok","body":null}';
const err = (body: string) => JSON.stringify({ state: "error", body });
const send = (line: string) => askRaw(z.socket, line);

AS_ROOT.beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "zinit-e2e-legacy-"));
  z = await Zinit.boot({
    services: {
      "redis.yaml": "exec: sleep 1000\n",
      "net.yaml": "exec: 'true'\noneshot: true\n",
      "hello.yaml": "exec: sh -c 'echo hi there; exec sleep 1000'\nafter: [net, ghost]\n",
      // Survives SIGTERM (only records it), so a shutdown waits its whole shutdown_timeout.
      "tr.yaml": [
        `exec: sh -c 'trap "echo term >> ${work}/term" TERM; trap "echo got usr1" USR1; while :; do sleep 1000 & wait; done'`,
        "shutdown_timeout: 2",
        "",
      ].join("\n"),
    },
  });
  await z.waitState("redis", "Running");
  await z.waitState("tr", "Running");
  await z.waitState("net", "Success");
}, 60_000);

AS_ROOT.afterAll(async () => {
  await z.stop();
  rmSync(work, { recursive: true, force: true });
});

AS_ROOT.describe("legacy protocol on the daemon's socket", () => {
  test("list: sorted keys, no newline", async () => {
    expect(await send("list\n")).toBe(
      '{"state":"ok","body":{"hello":"Blocked","net":"Success","redis":"Running","tr":"Running"}}',
    );
  });

  test("status: sorted keys, dependency states including Unknown", async () => {
    const pid = (await z.status("redis")).pid;
    expect(await send("status redis\n")).toBe(
      `{"state":"ok","body":{"after":{},"name":"redis","pid":${pid},"state":"Running","target":"Up"}}`,
    );
    expect(await send("status hello\n")).toBe(
      '{"state":"ok","body":{"after":{"ghost":"Unknown","net":"Success"},"name":"hello","pid":0,"state":"Blocked","target":"Up"}}',
    );
    expect(await send("status 'redis'\n")).toContain('"name":"redis"');
  });

  test("unknown service, for every command that names one", async () => {
    for (const line of [
      "status nope",
      "start nope",
      "stop nope",
      "forget nope",
      "kill nope SIGTERM",
    ]) {
      expect(await send(`${line}\n`)).toBe(err('service name "nope" unknown'));
    }
  });

  test("stop replies at once, the service then goes down; start brings it back", async () => {
    const pid = (await z.status("redis")).pid;
    expect(await send("stop redis\n")).toBe(OK);
    await z.waitFor(
      async () => (await z.status("redis")).pid === 0 && !nsPids(z).has(pid),
      TIMEOUT,
      "redis down",
    );
    expect((await z.status("redis")).target).toBe("Down");
    expect(await send("start redis\n")).toBe(OK);
    await z.waitState("redis", "Running");
    expect((await z.status("redis")).pid).not.toBe(pid);
  });

  test("forget: up is refused, a stopped one is forgotten", async () => {
    expect(await send("forget redis\n")).toBe(err('service "redis" is up'));
    expect(await send("forget net\n")).toBe(err('service "net" is up'));
    await z.rpc("service_stop", ["net"]);
    expect(await send("forget net\n")).toBe(OK);
    expect(Object.keys(await z.list())).not.toContain("net");
    expect(await send("forget net\n")).toBe(err('service name "net" unknown'));
  });

  test("monitor: loads and runs; already monitored; missing file; traversal refused", async () => {
    writeFileSync(join(z.configDir, "late.yaml"), "exec: sleep 1000\n");
    expect(await send("monitor late\n")).toBe(OK);
    await z.waitState("late", "Running");
    expect(await send("monitor late\n")).toBe(err('service "late" already monitored'));
    expect(await send("monitor ghost\n")).toBe(err("failed to load service config"));
    writeFileSync(join(z.dir, "x.yaml"), "exec: sleep 1000\n");
    expect(await send("monitor ../x\n")).toBe(err("failed to load service config"));
    expect(Object.keys(await z.list())).not.toContain("../x");
  });

  test("kill: the signal arrives; bad signal; down service; argument count", async () => {
    expect(await send("kill tr SIGTERM\n")).toBe(OK);
    await z.waitFor(() => readText(`${work}/term`) === "term\n", TIMEOUT, "TERM trap");
    expect((await z.list()).tr).toBe("Running");
    expect(await send("kill tr SIGNOPE\n")).toBe(err("EINVAL: Invalid argument"));
    expect(await send("kill redis 9\n")).toBe(err("EINVAL: Invalid argument"));
    await z.rpc("service_stop", ["late"]);
    expect(await send("kill late SIGTERM\n")).toBe(err('service "late" is down'));
    expect(await send("kill tr\n")).toBe(err("unknown command 'kill' or wrong arguments count"));
  });

  test("bad commands: unknown, wrong counts, empty line, bad quoting, bad log arguments", async () => {
    expect(await send("restart redis\n")).toBe(
      err("unknown command 'restart' or wrong arguments count"),
    );
    expect(await send("status\n")).toBe(err("unknown command 'status' or wrong arguments count"));
    expect(await send("start a b\n")).toBe(err("unknown command 'start' or wrong arguments count"));
    expect(await send("\n")).toBe(err("unknown command"));
    expect(await send("status 'redis\n")).toBe(err("invalid command syntax"));
    expect(await send("log foo\n")).toBe(err("invalid log command arguments"));
    expect(await send("log snapshot x\n")).toBe(err("invalid log command arguments"));
    // A last line without a newline, cut by a half-close, is still a command.
    expect(await askRaw(z.socket, "list", true)).toStartWith('{"state":"ok","body":{');
  });

  test("log snapshot: the ring as raw text, then close", async () => {
    const text = await send("log snapshot\n");
    expect(text.endsWith("\n")).toBe(true);
    const lines = text.slice(0, -1).split("\n");
    expect(lines).toEqual((await z.rpc("stream_currentLogs")) as string[]);
    expect(lines).toContain("[-] tr: ------------ [start] ------------");
  });

  test("log: buffered lines, then new lines as they arrive", async () => {
    let received = "";
    let wake = () => {};
    const sock = connect(z.socket, () => sock.write("log\n"));
    sock.on("data", (d: Buffer) => {
      received += d.toString("utf8");
      wake();
    });
    sock.on("error", () => {});
    const waitFor = async (what: string) => {
      const deadline = Date.now() + TIMEOUT;
      while (!received.includes(what)) {
        if (Date.now() > deadline) throw new Error(`no ${JSON.stringify(what)} in ${received}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 250);
        });
      }
    };
    await waitFor("[-] tr: ------------ [start] ------------\n");
    expect(received.includes("[+] tr: got usr1")).toBe(false);
    await z.rpc("service_kill", ["tr", "SIGUSR1"]);
    await waitFor("[+] tr: got usr1\n");
    // Raw text, one ring line per line, with no JSON framing.
    expect(received.split("\n").filter((l) => l.startsWith("{"))).toEqual([]);
    expect(sock.destroyed).toBe(false);
    sock.destroy();
  });

  test("shutdown replies ok at once; later commands are refused; the daemon exits 0", async () => {
    expect(await send("shutdown\n")).toBe(OK);
    // tr ignores SIGTERM for its 2 s shutdown_timeout, so the daemon is still there.
    expect(await send("start redis\n")).toBe(err("zinit is shutting down"));
    expect(await send("reboot\n")).toBe(err("zinit is shutting down"));
    expect(await z.exited).toBe(0);
    // The shutdown sent tr its stop signal exactly once (the second TERM recorded) before the
    // SIGKILL: a program told twice may take the second one as "quit now".
    expect(readText(`${work}/term`)).toBe("term\nterm\n");
    await outputMatches(z, /service tr did not stop in 2 s: sending SIGKILL\n/);
  });
});
