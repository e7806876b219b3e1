// `bun bench/run.ts [--quick] [--only zinit,runit,...] [--workloads logs,...] [--no-install]`: installs the peers,
// runs every workload against zinit and each peer, prints the table, and (full runs) writes
// bench/results/<date>.md + .svg and refreshes the table in bench/README.md and README.md.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { installPeers } from "./install.ts";
import { killAllSessions } from "./lib/session.ts";
import { errorText } from "./lib/util.ts";
import { pm2 } from "./peers/pm2.ts";
import { runit } from "./peers/runit.ts";
import { s6 } from "./peers/s6.ts";
import { supervisord } from "./peers/supervisord.ts";
import { tini } from "./peers/tini.ts";
import type { Peer } from "./peers/types.ts";
import { zinit } from "./peers/zinit.ts";
import {
  machineInfo,
  markdownReport,
  markdownTable,
  type PeerInfo,
  QUICK_NOTE,
  type Results,
  svgChart,
} from "./report.ts";
import { control } from "./workloads/control.ts";
import { idleCpu, memory, startup } from "./workloads/fleet.ts";
import { logs } from "./workloads/logs.ts";
import { readiness } from "./workloads/readiness.ts";
import { reaping } from "./workloads/reaping.ts";
import { restart } from "./workloads/restart.ts";
import { shutdown } from "./workloads/shutdown.ts";
import type { Cell, Context } from "./workloads/types.ts";

const PEERS: Peer[] = [zinit, runit, s6, supervisord, pm2, tini];
const ALL_WORKLOADS = [
  restart,
  startup,
  memory,
  idleCpu,
  control,
  readiness,
  logs,
  reaping,
  shutdown,
];
const BENCH_DIR = import.meta.dir;
const README_START = "<!-- latest-results:start -->";
const README_END = "<!-- latest-results:end -->";

interface Options {
  /** Re-render the report of a full run from its `.raw.json` instead of measuring. */
  render: string | null;
  quick: boolean;
  only: string[] | null;
  workloads: string[] | null;
  install: boolean;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { render: null, quick: false, only: null, workloads: null, install: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--quick") opts.quick = true;
    else if (arg === "--no-install") opts.install = false;
    else if (arg === "--only" || arg.startsWith("--only=")) {
      const value = arg === "--only" ? argv[++i] : arg.slice("--only=".length);
      if (!value) throw new Error("--only needs a comma-separated list of supervisors");
      opts.only = value
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      const unknown = opts.only.filter((name) => !PEERS.some((p) => p.name === name));
      if (unknown.length > 0) {
        throw new Error(
          `unknown supervisor(s) ${unknown.join(", ")}; known: ${PEERS.map((p) => p.name).join(", ")}`,
        );
      }
    } else if (arg === "--workloads" || arg.startsWith("--workloads=")) {
      const value = arg === "--workloads" ? argv[++i] : arg.slice("--workloads=".length);
      if (!value) throw new Error("--workloads needs a comma-separated list of workload ids");
      opts.workloads = value
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      const unknown = opts.workloads.filter((id) => !ALL_WORKLOADS.some((w) => w.id === id));
      if (unknown.length > 0) {
        throw new Error(
          `unknown workload(s) ${unknown.join(", ")}; known: ${ALL_WORKLOADS.map((w) => w.id).join(", ")}`,
        );
      }
    } else if (arg === "--render") {
      const value = argv[++i];
      if (!value) throw new Error("--render needs the path of a .raw.json results file");
      opts.render = value;
    } else if (arg === "--help" || arg === "-h") {
      console.log(
        "usage: bun bench/run.ts [--quick] [--only zinit,runit,s6,supervisord,pm2,tini] [--workloads restart,logs,...] [--no-install] | --render results/DATE.raw.json",
      );
      process.exit(0);
    } else throw new Error(`unknown argument '${arg}' (see --help)`);
  }
  return opts;
}

/** The READMEs that show the latest table between the markers, and how they link the report. */
const READMES = [
  { path: join(BENCH_DIR, "README.md"), link: "results/" },
  { path: join(BENCH_DIR, "..", "README.md"), link: "bench/results/" },
];

function replaceReadmeTables(table: string, reportName: string): void {
  for (const { path, link } of READMES) {
    const text = readFileSync(path, "utf8");
    const start = text.indexOf(README_START);
    const end = text.indexOf(README_END);
    if (start < 0 || end < start) throw new Error(`${path} lacks the ${README_START} markers`);
    const href = `${link}${reportName}`;
    const block = `${README_START}\nFrom [${href}](${href}):\n\n${table}\n`;
    writeFileSync(path, text.slice(0, start) + block + text.slice(end));
  }
}

function writeReport(results: Results, table: string, note: (msg: string) => void): void {
  const resultsDir = join(BENCH_DIR, "results");
  mkdirSync(resultsDir, { recursive: true });
  const svgName = `${results.date}.svg`;
  const reportName = `${results.date}.md`;
  writeFileSync(join(resultsDir, svgName), svgChart(results));
  writeFileSync(join(resultsDir, reportName), markdownReport(results, svgName));
  const raw = results.workloads.map(({ id, title, metrics }) => ({ id, title, metrics }));
  writeFileSync(
    join(resultsDir, `${results.date}.raw.json`),
    JSON.stringify({ ...results, workloads: raw }, null, 1),
  );
  replaceReadmeTables(table, reportName);
  // The project lints bench/ with biome, which also formats markdown tables.
  const biome = join(BENCH_DIR, "..", "node_modules", ".bin", "biome");
  const formatted = Bun.spawnSync([
    biome,
    "format",
    "--write",
    join(resultsDir, reportName),
    // bench/ is linted, so its README is formatted; the project README is left as written.
    join(BENCH_DIR, "README.md"),
  ]);
  if (formatted.exitCode !== 0) note(`biome format failed: ${formatted.stderr.toString().trim()}`);
  note(`wrote ${join(resultsDir, reportName)} and ${svgName}`);
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.render) {
    const saved = JSON.parse(readFileSync(opts.render, "utf8")) as Results;
    // Targets are functions, which JSON drops: take the metric definitions from the code.
    const results: Results = {
      ...saved,
      workloads: saved.workloads.map((w) => ALL_WORKLOADS.find((d) => d.id === w.id) ?? w),
    };
    writeReport(results, markdownTable(results), (msg) => console.error(`[bench] ${msg}`));
    return;
  }
  const began = performance.now();
  const selected = PEERS.filter((p) => !opts.only || opts.only.includes(p.name));
  const workloads = ALL_WORKLOADS.filter((w) => !opts.workloads || opts.workloads.includes(w.id));
  const note = (msg: string) => console.error(`[bench] ${msg}`);

  const installFailures = opts.install
    ? installPeers(
        selected.map((p) => p.name).filter((n) => n !== "zinit"),
        note,
      )
    : new Map<string, string>();
  const infos: PeerInfo[] = selected.map((peer) => {
    const status = peer.detect();
    const base = { name: peer.name, restartDelayNote: peer.restartDelayNote };
    if (status.ok) return { ...base, version: status.version };
    return { ...base, unavailable: installFailures.get(peer.name) ?? status.reason };
  });
  for (const info of infos) {
    note(
      info.unavailable
        ? `${info.name}: NOT AVAILABLE — ${info.unavailable}`
        : `${info.name} ${info.version}`,
    );
  }

  const tmp = mkdtempSync(join(tmpdir(), "zinit-bench-"));
  let dirs = 0;
  const cleanup = () => {
    killAllSessions();
    rmSync(tmp, { recursive: true, force: true });
  };
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      note(`${sig}: stopping everything`);
      cleanup();
      process.exit(130);
    });
  }
  const ctx: Context = {
    quick: opts.quick,
    newDir(label) {
      const dir = join(tmp, `${String(++dirs).padStart(3, "0")}-${label}`);
      mkdirSync(dir);
      return dir;
    },
    note,
  };

  const cells: Results["cells"] = {};
  const machine = machineInfo();
  try {
    for (const peer of selected) {
      if (infos.find((i) => i.name === peer.name)?.unavailable) continue;
      for (const w of workloads) {
        note(`${peer.name}: ${w.id}`);
        let got: Record<string, Cell>;
        try {
          got = await w.run(peer, ctx);
        } catch (err) {
          const msg = `error: ${errorText(err)}`;
          note(`${peer.name}: ${w.id} failed: ${errorText(err)}`);
          got = Object.fromEntries(w.metrics.map((m) => [m.key, msg]));
        }
        for (const m of w.metrics) {
          cells[w.id] ??= {};
          cells[w.id]![m.key] ??= {};
          cells[w.id]![m.key]![peer.name] = got[m.key] ?? "-";
        }
      }
    }
  } finally {
    cleanup();
  }

  const results: Results = {
    date: new Date().toISOString().slice(0, 10),
    quick: opts.quick,
    machine,
    peers: infos,
    workloads,
    cells,
    seconds: (performance.now() - began) / 1000,
  };
  const table = markdownTable(results);
  console.log(table);
  if (opts.quick) console.log(`\n${QUICK_NOTE}`);
  for (const info of infos.filter((i) => i.unavailable))
    console.log(`\n${info.name}: not measured — ${info.unavailable}`);
  // Reports and the README table only ever come from complete full runs.
  if (opts.quick || opts.workloads) return;

  writeReport(results, table, note);
}

main().catch((err) => {
  console.error(`[bench] ${errorText(err)}`);
  process.exit(1);
});
