// The legacy line protocol over the socket, answered by the real daemon over the fake Sys: the
// exact reply bytes, and what reached the daemon.

import { afterEach, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { join } from "node:path";
import { legacyError, legacyOk, runLegacyCommand } from "../../src/api/legacy.ts";
import { type SocketServer, serveUnix } from "../../src/api/unix.ts";
import { type TestDaemon, testDaemon } from "../helpers/daemon.ts";
import { pushLine } from "../helpers/lines.ts";

const TIMEOUT = 10_000;
const SIGUSR1 = 10;
const SIGTERM = 15;

let t: TestDaemon | null = null;
let server: SocketServer | null = null;

/** Sends `input` on a fresh connection and returns everything the server wrote until it closed. */
function ask(input: string | Uint8Array, halfClose = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect((server as SocketServer).path, () => {
      if (halfClose) sock.end(input);
      else sock.write(input);
    });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no EOF for ${JSON.stringify(String(input))}`));
    }, TIMEOUT);
    sock.on("data", (d: Buffer) => chunks.push(d));
    sock.on("error", reject);
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
  });
}

afterEach(() => {
  server?.close();
  server = null;
  t?.close();
  t = null;
});

/** The daemon and its socket, with whatever services the test set up. */
async function listen(z: TestDaemon): Promise<TestDaemon> {
  t = z;
  server = await serveUnix(join(z.configDir, "zinit.sock"), z.table, z.daemon);
  return z;
}

/**
 * redis (pid 42) Running after net and zdb; net a oneshot that succeeded and was stopped
 * (Success, target Down); zdb forgotten since, so redis's dependency on it is Unknown; and
 * web.yaml on disk, not monitored. What the test then asks is all the call log shows.
 */
async function reset(opts: { canPower?: boolean } = {}): Promise<TestDaemon> {
  const z = await testDaemon({ load: false, canPower: opts.canPower });
  z.write("net", "exec: net-up\noneshot: true\n");
  z.write("zdb", "exec: zdb\n");
  z.write("redis", "exec: redis-server\nafter: [net, zdb]\n");
  z.write("web", "exec: /bin/true\n");
  for (const name of ["net", "zdb", "redis"]) await z.daemon.monitor(name);
  await z.sys.flush();
  z.sys.nextPid = 42;
  z.sys.exit(z.sys.find("net-up").pid, { kind: "exited", code: 0 });
  await z.sys.flush();
  await z.settle(z.daemon.stop("net"));
  await z.settle(z.daemon.stop("zdb"));
  z.daemon.forget("zdb");
  expect(z.daemon.status("redis")).toMatchObject({ pid: 42, state: "Running" });
  z.calls.length = 0;
  return listen(z);
}

const ACTIONS = new Set(["start", "stop", "forget", "monitor", "kill", "shutdown"]);

/** The state-changing calls the server made, as `method arg…`. */
const actions = () =>
  (t as TestDaemon).calls
    .filter((c) => ACTIONS.has(c.method))
    .map((c) => [c.method, ...c.args].join(" "));

describe("legacy reply encoding", () => {
  test("state first, body keys sorted recursively, no newline", () => {
    expect(legacyOk({ b: 1, a: { z: [{ y: 1, x: 2 }], c: null } })).toBe(
      '{"state":"ok","body":{"a":{"c":null,"z":[{"x":2,"y":1}]},"b":1}}',
    );
    expect(legacyOk(undefined)).toBe('{"state":"ok","body":null}');
    expect(legacyError('service name "x" unknown')).toBe(
      '{"state":"error","body":"service name \\"x\\" unknown"}',
    );
  });
});

describe("legacy commands over the socket", () => {
  test("list", async () => {
    await reset();
    expect(await ask("list\n")).toBe('{"state":"ok","body":{"net":"Success","redis":"Running"}}');
  });

  test("status with sorted keys and dependency states", async () => {
    await reset();
    expect(await ask("status redis\n")).toBe(
      '{"state":"ok","body":{"after":{"net":"Success","zdb":"Unknown"},"name":"redis","pid":42,"state":"Running","target":"Up"}}',
    );
  });

  test("unknown service", async () => {
    await reset();
    expect(await ask("status nope\n")).toBe(
      '{"state":"error","body":"service name \\"nope\\" unknown"}',
    );
    expect(await ask("start nope\n")).toBe(
      '{"state":"error","body":"service name \\"nope\\" unknown"}',
    );
    expect(await ask("stop nope\n")).toBe(
      '{"state":"error","body":"service name \\"nope\\" unknown"}',
    );
    expect(await ask("forget nope\n")).toBe(
      '{"state":"error","body":"service name \\"nope\\" unknown"}',
    );
    expect(await ask("kill nope SIGTERM\n")).toBe(
      '{"state":"error","body":"service name \\"nope\\" unknown"}',
    );
  });

  test("start, forget, forget while up", async () => {
    await reset();
    expect(await ask("start redis\n")).toBe('{"state":"ok","body":null}');
    expect(await ask("forget net\n")).toBe('{"state":"ok","body":null}');
    expect(await ask("forget redis\n")).toBe(
      '{"state":"error","body":"service \\"redis\\" is up"}',
    );
    expect(actions()).toEqual(["start redis", "forget net", "forget redis"]);
  });

  test("stop replies at once although the stop never completes", async () => {
    const z = await reset();
    // redis ignores its stop signal: the stop goes on (until shutdown_timeout, never reached).
    const redis = z.sys.find("redis-server");
    redis.reactions.set(SIGTERM, "ignore");
    expect(await ask("stop redis\n")).toBe('{"state":"ok","body":null}');
    expect(actions()).toEqual(["stop redis"]);
    await z.sys.flush();
    expect(redis.signals).toEqual([SIGTERM]);
    expect(z.daemon.status("redis")).toMatchObject({ target: "Down", pid: 42 });
  });

  test("shell quoting is honoured", async () => {
    const z = await reset();
    z.write("my svc", "exec: x\nafter: [ghost]\n");
    await z.daemon.monitor("my svc");
    expect(await ask("status 'my svc'\n")).toBe(
      '{"state":"ok","body":{"after":{"ghost":"Unknown"},"name":"my svc","pid":0,"state":"Blocked","target":"Up"}}',
    );
  });

  test("kill: valid signal, bad signal, down service, argument count", async () => {
    const z = await reset();
    const redis = z.sys.find("redis-server");
    redis.reactions.set(SIGUSR1, "ignore");
    expect(await ask("kill redis sigusr1\n")).toBe('{"state":"ok","body":null}');
    expect(redis.signals).toEqual([SIGUSR1]);
    expect(await ask("kill redis SIGNOPE\n")).toBe(
      '{"state":"error","body":"EINVAL: Invalid argument"}',
    );
    expect(await ask("kill redis 9\n")).toBe('{"state":"error","body":"EINVAL: Invalid argument"}');
    expect(await ask("kill net SIGTERM\n")).toBe(
      '{"state":"error","body":"service \\"net\\" is down"}',
    );
    expect(await ask("kill redis\n")).toBe(
      '{"state":"error","body":"unknown command \'kill\' or wrong arguments count"}',
    );
    expect(await ask("kill redis SIGTERM extra\n")).toBe(
      '{"state":"error","body":"unknown command \'kill\' or wrong arguments count"}',
    );
  });

  test("monitor: success, already monitored, missing file, traversal refused", async () => {
    await reset();
    expect(await ask("monitor web\n")).toBe('{"state":"ok","body":null}');
    expect(await ask("monitor web\n")).toBe(
      '{"state":"error","body":"service \\"web\\" already monitored"}',
    );
    expect(await ask("monitor ghost\n")).toBe(
      '{"state":"error","body":"failed to load service config"}',
    );
    expect(await ask("monitor ../etc/x\n")).toBe(
      '{"state":"error","body":"failed to load service config"}',
    );
    // The traversal attempt never reaches the supervisor.
    expect(actions()).toEqual(["monitor web", "monitor web", "monitor ghost"]);
  });

  test("shutdown and reboot reply ok immediately; a second one is refused", async () => {
    const z = await reset({ canPower: true });
    expect(await ask("shutdown\n")).toBe('{"state":"ok","body":null}');
    expect(await ask("reboot\n")).toBe('{"state":"error","body":"zinit is shutting down"}');
    expect(await ask("start redis\n")).toBe('{"state":"error","body":"zinit is shutting down"}');
    await z.sys.flush();
    expect(z.powered).toEqual([{ mode: "poweroff", exitCode: 0 }]);
    server?.close();
    z.close();
    const fresh = await reset({ canPower: true });
    expect(await ask("reboot\n")).toBe('{"state":"ok","body":null}');
    await fresh.sys.flush();
    expect(fresh.powered).toEqual([{ mode: "reboot", exitCode: 0 }]);
  });

  test("unknown command, wrong counts, empty line, bad quoting", async () => {
    await reset();
    expect(await ask("restart redis\n")).toBe(
      '{"state":"error","body":"unknown command \'restart\' or wrong arguments count"}',
    );
    expect(await ask("status\n")).toBe(
      '{"state":"error","body":"unknown command \'status\' or wrong arguments count"}',
    );
    expect(await ask("start a b\n")).toBe(
      '{"state":"error","body":"unknown command \'start\' or wrong arguments count"}',
    );
    expect(await ask("\n")).toBe('{"state":"error","body":"unknown command"}');
    expect(await ask("   \n")).toBe('{"state":"error","body":"unknown command"}');
    expect(await ask("status 'redis\n")).toBe('{"state":"error","body":"invalid command syntax"}');
    expect(await ask("log foo\n")).toBe('{"state":"error","body":"invalid log command arguments"}');
    expect(await ask("log snapshot x\n")).toBe(
      '{"state":"error","body":"invalid log command arguments"}',
    );
  });

  test("CRLF line endings (nc -C, telnet) are accepted", async () => {
    await reset();
    expect(await ask("list\r\n")).toBe('{"state":"ok","body":{"net":"Success","redis":"Running"}}');
    expect(await ask("status redis\r\n")).toBe(
      '{"state":"ok","body":{"after":{"net":"Success","zdb":"Unknown"},"name":"redis","pid":42,"state":"Running","target":"Up"}}',
    );
    expect(await ask("\r\n")).toBe('{"state":"error","body":"unknown command"}');
    expect(await ask("status redis\r", true)).toContain('"name":"redis"');
    // Only one CR is a line ending; a quoted CR inside the line is still data.
    expect(await ask("status 'redis\r'\r\n")).toBe(
      '{"state":"error","body":"service name \\"redis\\r\\" unknown"}',
    );
  });

  test("a last line without newline is run at EOF (half-close)", async () => {
    await reset();
    expect(await ask("list", true)).toBe(
      '{"state":"ok","body":{"net":"Success","redis":"Running"}}',
    );
  });

  test("a command line split into 1-byte writes", async () => {
    await reset();
    const reply = await new Promise<string>((resolve, reject) => {
      let out = "";
      const sock = connect((server as SocketServer).path, async () => {
        for (const b of Buffer.from("status redis\n")) {
          await new Promise<void>((done) => sock.write(Buffer.from([b]), () => done()));
        }
      });
      sock.on("data", (d: Buffer) => {
        out += d.toString("utf8");
      });
      sock.on("error", reject);
      sock.on("close", () => resolve(out));
    });
    expect(reply).toBe(
      '{"state":"ok","body":{"after":{"net":"Success","zdb":"Unknown"},"name":"redis","pid":42,"state":"Running","target":"Up"}}',
    );
  });

  test("only the first line counts", async () => {
    await reset();
    expect(await ask("list\nshutdown\n")).toBe(
      '{"state":"ok","body":{"net":"Success","redis":"Running"}}',
    );
    expect(actions()).toEqual([]);
  });

  test("invalid UTF-8 gets upstream's raw 'bad request' then an error", async () => {
    await reset();
    expect(await ask(new Uint8Array([0x6c, 0xff, 0xfe, 0x0a]))).toBe(
      'bad request{"state":"error","body":"unknown command"}',
    );
  });

  test("a command line over 10 MiB is refused and the server keeps serving", async () => {
    await reset();
    expect(await ask(`status ${"x".repeat(11 * 1024 * 1024)}\n`)).toBe(
      '{"state":"error","body":"command line too long"}',
    );
    expect(await ask("list\n")).toBe('{"state":"ok","body":{"net":"Success","redis":"Running"}}');
  });

  test("log snapshot: buffered lines then EOF", async () => {
    // A daemon with an empty ring, then one with two lines.
    await listen(await testDaemon());
    expect(await ask("log snapshot\n")).toBe("");
    pushLine((t as TestDaemon).ring, "[+] redis: one");
    pushLine((t as TestDaemon).ring, "[-] net: two");
    expect(await ask("log snapshot\n")).toBe("[+] redis: one\n[-] net: two\n");
  });

  test("log follows: snapshot, then new lines in order, without gap or duplicate", async () => {
    const z = await listen(await testDaemon());
    pushLine(z.ring, "[+] redis: old");
    const sock = connect((server as SocketServer).path);
    let got = "";
    const waitFor = (want: string) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`got ${JSON.stringify(got)}`)), TIMEOUT);
        const check = () => {
          if (got === want) {
            clearTimeout(timer);
            sock.off("data", onData);
            resolve();
          }
        };
        const onData = (d: Buffer) => {
          got += d.toString("utf8");
          check();
        };
        sock.on("data", onData);
        check();
      });
    sock.write("log\n");
    await waitFor("[+] redis: old\n");
    pushLine(z.ring, "[+] redis: new1");
    pushLine(z.ring, "[-] zinit: x");
    await waitFor("[+] redis: old\n[+] redis: new1\n[-] zinit: x\n");
    expect(z.subscribers()).toBe(1);
    const closed = new Promise<void>((resolve) => sock.on("close", () => resolve()));
    sock.destroy();
    await closed;
    // The follower is unsubscribed once the server sees the close.
    const deadline = Date.now() + TIMEOUT;
    while (z.subscribers() > 0 && Date.now() < deadline) await Bun.sleep(5);
    expect(z.subscribers()).toBe(0);
  });
});

test("a congested `log` follower skips lines and is told how many before the next one", async () => {
  const z = await testDaemon();
  t = z;
  pushLine(z.ring, "[+] a: old");
  let text = "";
  let congested = false;
  let onDrain = () => {};
  const out = {
    write: (chunk: string) => {
      text += chunk;
    },
    end: () => {},
    congested: () => congested,
    onEmptied: (listener: () => void) => {
      onDrain = listener;
    },
  };
  const stop = await runLegacyCommand("log", z.daemon, out);
  pushLine(z.ring, "[+] a: 1");
  congested = true;
  pushLine(z.ring, "[+] a: 2");
  pushLine(z.ring, "[+] a: 3");
  congested = false;
  pushLine(z.ring, "[+] a: 4");
  expect(text).toBe("[+] a: old\n[+] a: 1\n[-] zinit: 2 lines dropped\n[+] a: 4\n");
  // Lines dropped at the end of a burst are reported once the peer has caught up.
  congested = true;
  pushLine(z.ring, "[+] a: 5");
  congested = false;
  onDrain();
  expect(text.endsWith("[+] a: 4\n[-] zinit: 1 lines dropped\n")).toBe(true);
  stop?.();
});
