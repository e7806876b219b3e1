import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { legacyError, legacyOk, runLegacyCommand } from "../../src/api/legacy.ts";
import { type SocketServer, serveUnix } from "../../src/api/unix.ts";
import { FakeControl, fakeTable } from "./fake-control.ts";

const TIMEOUT = 10_000;

let dir: string;
let server: SocketServer;
let control: FakeControl;

/** Sends `input` on a fresh connection and returns everything the server wrote until it closed. */
function ask(input: string | Uint8Array, halfClose = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect(server.path, () => {
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

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "zinit-legacy-"));
  writeFileSync(join(dir, "web.yaml"), "exec: /bin/true\n");
  control = new FakeControl(dir);
  server = await serveUnix(join(dir, "zinit.sock"), fakeTable(control), control);
});

afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

function reset() {
  control.services.clear();
  control.calls.length = 0;
  control.lines.length = 0;
  control.shutdownMode = null;
  control.gate = null;
  control.add("redis", { pid: 42, after: ["net", "zdb"] });
  control.add("net", { state: "Success", target: "Down", pid: 0 });
}

const ACTIONS = new Set(["start", "stop", "forget", "monitor", "kill", "shutdown"]);

/** The state-changing calls the server made, as `method arg…`. */
const actions = () =>
  control.calls.filter((c) => ACTIONS.has(c.method)).map((c) => [c.method, ...c.args].join(" "));

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
    reset();
    expect(await ask("list\n")).toBe('{"state":"ok","body":{"net":"Success","redis":"Running"}}');
  });

  test("status with sorted keys and dependency states", async () => {
    reset();
    expect(await ask("status redis\n")).toBe(
      '{"state":"ok","body":{"after":{"net":"Success","zdb":"Unknown"},"name":"redis","pid":42,"state":"Running","target":"Up"}}',
    );
  });

  test("unknown service", async () => {
    reset();
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
    reset();
    expect(await ask("start redis\n")).toBe('{"state":"ok","body":null}');
    expect(await ask("forget net\n")).toBe('{"state":"ok","body":null}');
    expect(await ask("forget redis\n")).toBe(
      '{"state":"error","body":"service \\"redis\\" is up"}',
    );
    expect(actions()).toEqual(["start redis", "forget net", "forget redis"]);
  });

  test("stop replies at once although the stop never completes", async () => {
    reset();
    control.gate = new Promise(() => {});
    expect(await ask("stop redis\n")).toBe('{"state":"ok","body":null}');
    expect(actions()).toEqual(["stop redis"]);
    expect(control.services.get("redis")?.target).toBe("Down");
  });

  test("shell quoting is honoured", async () => {
    reset();
    control.add("my svc", { state: "Blocked", pid: 0 });
    expect(await ask("status 'my svc'\n")).toBe(
      '{"state":"ok","body":{"after":{},"name":"my svc","pid":0,"state":"Blocked","target":"Up"}}',
    );
  });

  test("kill: valid signal, bad signal, down service, argument count", async () => {
    reset();
    expect(await ask("kill redis sigusr1\n")).toBe('{"state":"ok","body":null}');
    expect(control.services.get("redis")?.signals).toEqual(["SIGUSR1"]);
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
    reset();
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
    reset();
    expect(await ask("shutdown\n")).toBe('{"state":"ok","body":null}');
    expect(await ask("reboot\n")).toBe('{"state":"error","body":"zinit is shutting down"}');
    expect(await ask("start redis\n")).toBe('{"state":"error","body":"zinit is shutting down"}');
    expect(control.shutdownMode).toBe("shutdown");
    control.shutdownMode = null;
    expect(await ask("reboot\n")).toBe('{"state":"ok","body":null}');
    expect(String(control.shutdownMode)).toBe("reboot");
  });

  test("unknown command, wrong counts, empty line, bad quoting", async () => {
    reset();
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
    reset();
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
    reset();
    expect(await ask("list", true)).toBe(
      '{"state":"ok","body":{"net":"Success","redis":"Running"}}',
    );
  });

  test("a command line split into 1-byte writes", async () => {
    reset();
    const reply = await new Promise<string>((resolve, reject) => {
      let out = "";
      const sock = connect(server.path, async () => {
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
    reset();
    expect(await ask("list\nshutdown\n")).toBe(
      '{"state":"ok","body":{"net":"Success","redis":"Running"}}',
    );
    expect(actions()).toEqual([]);
  });

  test("invalid UTF-8 gets upstream's raw 'bad request' then an error", async () => {
    reset();
    expect(await ask(new Uint8Array([0x6c, 0xff, 0xfe, 0x0a]))).toBe(
      'bad request{"state":"error","body":"unknown command"}',
    );
  });

  test("a command line over 10 MiB is refused and the server keeps serving", async () => {
    reset();
    expect(await ask(`status ${"x".repeat(11 * 1024 * 1024)}\n`)).toBe(
      '{"state":"error","body":"command line too long"}',
    );
    expect(await ask("list\n")).toBe('{"state":"ok","body":{"net":"Success","redis":"Running"}}');
  });

  test("log snapshot: buffered lines then EOF", async () => {
    reset();
    control.log("[+] redis: one");
    control.log("[-] net: two");
    expect(await ask("log snapshot\n")).toBe("[+] redis: one\n[-] net: two\n");
    control.lines.length = 0;
    expect(await ask("log snapshot\n")).toBe("");
  });

  test("log follows: snapshot, then new lines in order, without gap or duplicate", async () => {
    reset();
    control.log("[+] redis: old");
    const sock = connect(server.path);
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
    control.log("[+] redis: new1");
    control.log("[-] zinit: x");
    await waitFor("[+] redis: old\n[+] redis: new1\n[-] zinit: x\n");
    expect(control.listeners.size).toBe(1);
    const closed = new Promise<void>((resolve) => sock.on("close", () => resolve()));
    sock.destroy();
    await closed;
    // The follower is unsubscribed once the server sees the close.
    const deadline = Date.now() + TIMEOUT;
    while (control.listeners.size > 0 && Date.now() < deadline) await Bun.sleep(5);
    expect(control.listeners.size).toBe(0);
  });
});

test("a congested `log` follower skips lines and is told how many before the next one", async () => {
  const fake = new FakeControl();
  fake.log("[+] a: old");
  let text = "";
  let congested = false;
  let onDrain = () => {};
  const out = {
    write: (t: string) => {
      text += t;
    },
    end: () => {},
    congested: () => congested,
    onEmptied: (listener: () => void) => {
      onDrain = listener;
    },
  };
  const stop = await runLegacyCommand("log", fake, out);
  fake.log("[+] a: 1");
  congested = true;
  fake.log("[+] a: 2");
  fake.log("[+] a: 3");
  congested = false;
  fake.log("[+] a: 4");
  expect(text).toBe("[+] a: old\n[+] a: 1\n[-] zinit: 2 lines dropped\n[+] a: 4\n");
  // Lines dropped at the end of a burst are reported once the peer has caught up.
  congested = true;
  fake.log("[+] a: 5");
  congested = false;
  onDrain();
  expect(text.endsWith("[+] a: 4\n[-] zinit: 1 lines dropped\n")).toBe(true);
  stop?.();
});
