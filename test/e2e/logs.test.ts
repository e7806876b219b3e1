// Logs through the compiled daemon as PID 1: queries, timestamps, a snapshot beyond the socket's
// 16 MB output queue, log files reopened on SIGUSR1, and a follower that ends cleanly when zinit
// shuts down normally.

import { afterEach, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AS_ROOT } from "../helpers/privilege.ts";
import { collect } from "../helpers/run.ts";
import { cli, ZINIT, Zinit } from "../helpers/zinit.ts";
import { ask, readText } from "./lib.ts";

setDefaultTimeout(120_000);

let z: Zinit | null = null;
let work = "";
afterEach(async () => {
  await z?.stop();
  z = null;
  if (work) rmSync(work, { recursive: true, force: true });
  work = "";
});

const TALKER =
  "exec: sh -c 'for i in 1 2 3 4 5; do echo out $i; echo err $i >&2; done; exec sleep 1000'\n";
/** Writes `poke` each time it gets SIGUSR2 (a line on demand). */
const POKED = `exec: sh -c 'trap "echo poke" USR2; echo start; while :; do sleep 1000 & wait; done'\n`;

/** The newest record of a service, asked without the CLI. */
async function newest(socket: string, name: string) {
  const reply = await ask(socket, "stream_queryLogs", { names: [name], lines: 1 });
  return (reply.result as { records: Array<{ seq: number; line: string }> }).records[0];
}

AS_ROOT.describe("log queries on the compiled daemon", () => {
  test("upstream's lines as before; -t, --json, -n, --grep, --since/--until on top", async () => {
    z = await Zinit.boot({ services: { "talker.yaml": TALKER } });
    const d = z;
    await d.waitFor(async () => (await newest(d.socket, "talker"))?.line === "err 5", 20_000);
    // stdout and stderr are separate pipes: their relative order is not fixed, each one's is.
    const plain = (await cli(d.socket, "log", "-s", "talker")).stdout.split("\n").slice(0, -1);
    expect(plain[0]).toBe("[-] talker: ------------ [start] ------------");
    expect(plain.filter((l) => l.startsWith("[+]"))).toEqual(
      [1, 2, 3, 4, 5].map((i) => `[+] talker: out ${i}`),
    );
    expect(plain.filter((l) => l.startsWith("[-] talker: err"))).toEqual(
      [1, 2, 3, 4, 5].map((i) => `[-] talker: err ${i}`),
    );
    const rpc = await ask(d.socket, "stream_currentLogs", ["talker"]);
    expect(rpc.result).toEqual(plain);

    const stamped = (await cli(d.socket, "log", "-s", "-t", "talker")).stdout.split("\n");
    expect(stamped.slice(0, -1).map((l) => l.slice(25))).toEqual(plain);
    for (const line of stamped.slice(0, -1)) {
      const time = Date.parse(line.slice(0, 24));
      expect(Math.abs(Date.now() - time)).toBeLessThan(60_000);
    }

    const json = await cli(d.socket, "log", "-s", "--json", "-n", "2", "talker");
    const records = json.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(records.length).toBe(2);
    for (const r of records) {
      expect(Object.keys(r)).toEqual(["seq", "time", "service", "stream", "line"]);
      expect(r.service).toBe("talker");
    }
    expect(records[0].seq).toBeLessThan(records[1].seq);

    const grep = await cli(d.socket, "log", "-s", "--grep", "^err [2-4]$", "talker");
    expect(grep.stdout).toBe("[-] talker: err 2\n[-] talker: err 3\n[-] talker: err 4\n");
    expect((await cli(d.socket, "log", "-s", "--since", "1h", "talker")).stdout).toBe(
      `${plain.join("\n")}\n`,
    );
    expect(await cli(d.socket, "log", "--until", "2000-01-01", "talker")).toEqual({
      code: 0,
      stdout: "",
      stderr: "",
    });
    const bad = await cli(d.socket, "log", "-s", "--grep", "(a)\\1");
    expect(bad).toEqual({
      code: 1,
      stdout: "",
      stderr: "zinit: querying logs: grep: invalid pattern: backreferences are not supported\n",
    });
  });

  test("-s prints a ring of more than 16 MB whole; stream_currentLogs answers with its newest 8 MiB", async () => {
    // 400 lines of 64 KiB: 26 MB, more than the socket's 16 MB queue for one peer.
    z = await Zinit.boot({
      services: {
        "wide.yaml": `exec: perl -e '$|=1; print "$_ " . ("w" x 65000) . "\\n" for 1..400; sleep 1000'\n`,
      },
      extraArgs: ["-b", "1000", "--buffer-bytes", "64M"],
    });
    const d = z;
    await d.waitFor(
      async () => (await newest(d.socket, "wide"))?.line.startsWith("400 ") === true,
      60_000,
    );
    const proc = Bun.spawn([ZINIT, "-s", d.socket, "log", "-s", "wide"], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const out = await collect(proc);
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    const lines = out.stdout.split("\n").slice(0, -1);
    expect(lines.length).toBe(401);
    expect(out.stdout.length).toBeGreaterThan(16 * 1024 * 1024);
    lines.slice(1).forEach((line, i) => {
      expect(line.startsWith(`[+] wide: ${i + 1} w`)).toBe(true);
      expect(line.length).toBe(`[+] wide: ${i + 1} `.length + 65000);
    });
    const snapshot = await ask(d.socket, "stream_currentLogs", ["wide"]);
    const kept = snapshot.result as string[];
    expect(JSON.stringify(kept).length).toBeLessThanOrEqual(8 * 1024 * 1024);
    expect(kept.length).toBeGreaterThan(100);
    expect(kept.at(-1)?.startsWith("[+] wide: 400 w")).toBe(true);
  });
});

AS_ROOT.describe("log files on the compiled daemon", () => {
  test("--log-dir writes each service's lines with times; SIGUSR1 reopens them (container)", async () => {
    work = mkdtempSync(join(tmpdir(), "zinit-e2e-logs-"));
    z = await Zinit.boot({
      services: { "poked.yaml": POKED },
      extraArgs: ["--log-dir", work],
    });
    const d = z;
    const file = join(work, "poked.log");
    await d.waitFor(() => readText(file).includes("[+] poked: start\n"), 20_000, "the first line");
    expect(readText(file)).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[-\] poked: -{12} \[start\] -{12}\n\d{4}-.*Z \[\+\] poked: start\n$/,
    );
    // logrotate's move, then its signal.
    renameSync(file, `${file}.1`);
    d.signal("SIGUSR1");
    await d.waitFor(() => existsSync(file), 20_000, "the reopened file");
    expect((await cli(d.socket, "kill", "poked", "SIGUSR2")).code).toBe(0);
    await d.waitFor(
      () => readText(file).includes("poked: poke\n"),
      20_000,
      "a line in the new file",
    );
    expect(readText(`${file}.1`)).not.toContain("poked: poke\n");
    expect(d.output).toContain("received SIGUSR1: reopened 1 log file(s)");
  });

  test("as the PID 1 of a machine SIGUSR1 still powers off; zinit log --reopen reopens", async () => {
    work = mkdtempSync(join(tmpdir(), "zinit-e2e-logs-"));
    z = await Zinit.boot({
      container: false,
      services: { "poked.yaml": POKED },
      extraArgs: ["--log-dir", work],
    });
    const d = z;
    const file = join(work, "poked.log");
    await d.waitFor(() => readText(file).includes("start"), 20_000, "the first line");
    renameSync(file, `${file}.1`);
    expect(await cli(d.socket, "log", "--reopen", "--json")).toEqual({
      code: 0,
      stdout: `${JSON.stringify([file])}\n`,
      stderr: "",
    });
    expect(existsSync(file)).toBe(true);
    d.signal("SIGUSR1");
    // reboot(2) as the init of a PID namespace ends it "killed by SIGINT" for a power-off.
    expect(await d.exited).toBe(128 + 2);
    expect(d.output).toContain("received SIGUSR1");
    expect(d.output).toContain("powering off");
  });
});

AS_ROOT.describe("a zinit log follower", () => {
  test("ends with exit 0 and one line when zinit shuts down normally", async () => {
    z = await Zinit.boot({ services: { "poked.yaml": POKED } });
    const d = z;
    await d.waitFor(async () => (await newest(d.socket, "poked"))?.line === "start", 20_000);
    const follower = Bun.spawn([ZINIT, "-s", d.socket, "log", "poked"], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const reader = follower.stdout.getReader();
    let seen = "";
    // The snapshot's last line, then one pushed after the follow started.
    while (!seen.includes("[+] poked: start\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += new TextDecoder().decode(value);
    }
    expect((await cli(d.socket, "kill", "poked", "SIGUSR2")).code).toBe(0);
    while (!seen.includes("[+] poked: poke\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += new TextDecoder().decode(value);
    }
    d.signal("SIGTERM");
    expect(await d.exited).toBe(0);
    let stdout = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      stdout += new TextDecoder().decode(value);
    }
    const [stderr, code] = await Promise.all([
      new Response(follower.stderr).text(),
      follower.exited,
    ]);
    expect(stderr).toBe("zinit stopped\n");
    expect(code).toBe(0);
    expect(seen + stdout).toBe(
      "[-] poked: ------------ [start] ------------\n[+] poked: start\n[+] poked: poke\n",
    );
  });

  test("still ends with an error when the daemon dies without a word", async () => {
    z = await Zinit.boot({ services: { "poked.yaml": POKED } });
    const d = z;
    const follower = Bun.spawn([ZINIT, "-s", d.socket, "log"], { stdout: "pipe", stderr: "pipe" });
    const reader = follower.stdout.getReader();
    let seen = "";
    while (!seen.includes("poked: start")) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += new TextDecoder().decode(value);
    }
    reader.releaseLock();
    d.signal("SIGKILL");
    await d.exited;
    const [stderr, code] = await Promise.all([
      new Response(follower.stderr).text(),
      follower.exited,
    ]);
    expect(stderr).toBe("zinit: connection closed by zinit\n");
    expect(code).toBe(1);
  });
});
