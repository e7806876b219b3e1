// Output floods against the compiled daemon as PID 1, inside a 128 MB memory cgroup (v1): the
// memory logs use stays within the ring's byte budget plus the documented margin, whatever a
// service writes, and lines are lost only as documented (the oldest of the flooder itself).

import { afterEach, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { asRootWith } from "../helpers/privilege.ts";
import { Zinit } from "../helpers/zinit.ts";
import { ask } from "./lib.ts";

setDefaultTimeout(180_000);

const CGROUP_ROOT = "/sys/fs/cgroup/memory";
const LIMIT = 128 * 1024 * 1024;
/** README "Logs": peak RSS during a flood stays within start-up RSS + the byte budget + this. */
const MARGIN = 56 * 1024 * 1024;
const BUDGET = 4 * 1024 * 1024;
const FLOOD_S = 6;

let z: Zinit | null = null;
let cgroup = "";
afterEach(async () => {
  await z?.stop();
  z = null;
  if (cgroup) {
    try {
      rmdirSync(cgroup);
    } catch {
      // Still draining its last process: the kernel removes nothing while one is left.
    }
  }
  cgroup = "";
});

const CGROUP = asRootWith(
  existsSync(`${CGROUP_ROOT}/memory.limit_in_bytes`)
    ? null
    : `no cgroup v1 memory controller at ${CGROUP_ROOT}`,
);

/** A fresh memory cgroup with the limit. */
function memoryCgroup(): string {
  const dir = `${CGROUP_ROOT}/zinit-flood-${process.pid}-${Date.now()}`;
  mkdirSync(dir);
  writeFileSync(`${dir}/memory.limit_in_bytes`, String(LIMIT));
  return dir;
}

const kib = (status: string, key: string) =>
  Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1]) * 1024;

/** Pre-built output written as fast as the pipe takes it for FLOOD_S seconds, then a last line. */
const flooder = (perl: string) =>
  `exec: perl -e '${perl} my $end = time + ${FLOOD_S}; while (time < $end) { syswrite(STDOUT, $buf) } syswrite(STDOUT, "flood over\\n"); sleep 1000'\n`;

async function flood(name: string, perl: string): Promise<void> {
  const cg = memoryCgroup();
  cgroup = cg;
  z = await Zinit.boot({
    prefix: ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cg],
    services: {
      "quiet.yaml":
        "exec: sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do echo quiet $i; done; exec sleep 1000'\n",
      [`${name}.yaml`]: `${flooder(perl)}after: [quiet]\n`,
    },
  });
  const d = z;
  const pid = d.hostPid();
  const status = () => readFileSync(`/proc/${pid}/status`, "utf8");
  const baseline = kib(status(), "VmRSS");
  const newest = async () => {
    const reply = await ask(d.socket, "stream_queryLogs", { names: [name], lines: 1 });
    return (reply.result as { records: Array<{ line: string }> } | undefined)?.records[0]?.line;
  };
  await d.waitFor(
    async () => (await newest()) === "flood over",
    (FLOOD_S + 60) * 1000,
    "the flood",
  );
  const peak = kib(status(), "VmHWM");
  console.log(
    `${name}: start-up RSS ${(baseline / 1e6).toFixed(1)} MB, peak ${(peak / 1e6).toFixed(1)} MB, cgroup peak ${(
      Number(readFileSync(`${cg}/memory.max_usage_in_bytes`, "utf8")) / 1e6
    ).toFixed(1)} MB`,
  );
  expect(Number(readFileSync(`${cg}/memory.failcnt`, "utf8"))).toBe(0);
  expect(peak).toBeLessThanOrEqual(baseline + BUDGET + MARGIN);
  // The ring: -b lines at most, the flooder's newest, and all of the quiet service's.
  const ring = (await ask(d.socket, "stream_currentLogs")).result as string[];
  expect(ring.length).toBeLessThanOrEqual(2000);
  expect(ring.at(-1)).toBe(`[+] ${name}: flood over`);
  const quiet = (await ask(d.socket, "stream_currentLogs", ["quiet"])).result as string[];
  expect(quiet.slice(1)).toEqual(Array.from({ length: 10 }, (_, i) => `[+] quiet: quiet ${i + 1}`));
  expect(await d.list()).toMatchObject({ quiet: "Running", [name]: "Running" });
}

CGROUP.describe("output floods in a 128 MB memory cgroup", () => {
  test("200-byte lines as fast as the pipe takes them", async () => {
    await flood("lines", 'my $buf = (("f" x 199) . "\\n") x 320;');
  });

  test("64 KiB lines of invalid UTF-8", async () => {
    await flood("binary", 'my $buf = ("\\xff" x 65535) . "\\n";');
  });
});
