// Turns results into the markdown table (with zinit/peer ratios), the machine description and a
// hand-written SVG bar chart of the main figures.

import { readFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import type { Cell, Metric, Workload } from "./workloads/types.ts";

export interface PeerInfo {
  name: string;
  version?: string;
  /** Why the peer was not measured (not installed, install failed). */
  unavailable?: string;
  restartDelayNote: string;
}

export interface Results {
  date: string;
  quick: boolean;
  machine: Record<string, string>;
  peers: PeerInfo[];
  workloads: Pick<Workload, "id" | "title" | "metrics">[];
  /** workload id → metric key → peer name → cell */
  cells: Record<string, Record<string, Record<string, Cell>>>;
  seconds: number;
}

export function machineInfo(): Record<string, string> {
  const read = (path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return "";
    }
  };
  const os = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(read("/etc/os-release"))?.[1] ?? "unknown";
  return {
    cpu: /^model name\s*:\s*(.*)$/m.exec(read("/proc/cpuinfo"))?.[1] ?? "unknown",
    cores: String(cpus().length),
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: `Linux ${release()}`,
    os,
    bun: Bun.version,
    "load average at start": read("/proc/loadavg").split(" ").slice(0, 3).join(" "),
  };
}

export const QUICK_NOTE =
  "Quick mode scales the workloads down; labels keep the full-run sizes: N 100 → 10, 1000 → 50, " +
  "200 MB → 5 MB, 1000 orphans → 100, 20 restart samples → 5, 30 s idle window → 3 s, " +
  "30 notified readiness samples → 5 and 12 polled → 3.";

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString("en-US");
  if (abs >= 100 || Number.isInteger(value)) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

const escapeCell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");

function formatCell(cell: Cell | undefined): string {
  if (cell === undefined) return "-";
  return typeof cell === "number" ? formatNumber(cell) : escapeCell(cell);
}

function ratio(zinit: Cell | undefined, peer: Cell | undefined): string {
  if (typeof zinit !== "number" || typeof peer !== "number") return "-";
  if (peer === 0) return zinit === 0 ? "1.00" : "∞";
  const r = zinit / peer;
  // Two significant digits keep ratios like 0.0024 (2 ms vs 1 s) from printing as 0.00.
  if (r === 0) return "0";
  return r >= 100 ? r.toFixed(0) : r < 0.1 ? r.toPrecision(2) : r.toFixed(2);
}

function target(metric: Metric, cells: Record<string, Cell>): string {
  if (!metric.target) return "-";
  const zinit = cells.zinit;
  if (typeof zinit !== "number") return `${metric.target.text} (not measured)`;
  return `${metric.target.text} ${metric.target.met(zinit, cells) ? "✓" : "✗"}`;
}

/** The results table; every data row starts `| <workload id> | <metric> |`. */
export function markdownTable(results: Results): string {
  const measured = results.peers.filter((p) => !p.unavailable).map((p) => p.name);
  const others = measured.filter((p) => p !== "zinit");
  const withZinit = measured.includes("zinit");
  const head = [
    "workload",
    "metric",
    "unit",
    ...measured,
    ...(withZinit ? ["zinit target", ...others.map((p) => `zinit/${p}`)] : []),
  ];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const w of results.workloads) {
    for (const m of w.metrics) {
      const cells = results.cells[w.id]?.[m.key] ?? {};
      const row = [
        w.id,
        `${m.label} (${m.better} is better)`,
        m.unit,
        ...measured.map((p) => formatCell(cells[p])),
        ...(withZinit
          ? [target(m, cells), ...others.map((p) => ratio(cells.zinit, cells[p]))]
          : []),
      ];
      lines.push(`| ${row.join(" | ")} |`);
    }
  }
  return lines.join("\n");
}

export function markdownReport(results: Results, svgName: string | null): string {
  const peerLines = results.peers.map((p) =>
    p.unavailable
      ? `- **${p.name}**: not measured — ${escapeCell(p.unavailable)}`
      : `- **${p.name}** ${p.version ?? ""}; restart delay: ${p.restartDelayNote}`,
  );
  const machine = Object.entries(results.machine).map(([k, v]) => `- ${k}: ${v}`);
  return [
    `# zinit benchmark — ${results.date}${results.quick ? " (quick mode)" : ""}`,
    "",
    `Produced by \`bun bench/run.ts${results.quick ? " --quick" : ""}\` in ${Math.round(results.seconds)} s.`,
    "Ratios are zinit ÷ peer: below 1 is better for zinit where lower is better, above 1 where higher is better.",
    results.quick ? QUICK_NOTE : "",
    "",
    "## Machine",
    "",
    ...machine,
    "",
    "## Supervisors",
    "",
    ...peerLines,
    "",
    "## Results",
    "",
    markdownTable(results),
    "",
    ...(svgName ? [`![main figures](${svgName})`, ""] : []),
    "## How each figure is taken",
    "",
    ...results.workloads.map((w) => `- **${w.id}** — ${w.title}`),
    "",
    "Details of each method are in `bench/README.md`.",
    "",
  ].join("\n");
}

const COLORS: Record<string, string> = {
  zinit: "#d9480f",
  runit: "#1c7ed6",
  s6: "#2f9e44",
  supervisord: "#7048e8",
  pm2: "#e64980",
  tini: "#868e96",
};

const xml = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

/** One panel per charted metric, one bar per measured peer, linear scale per panel. */
export function svgChart(results: Results): string {
  const width = 760;
  const labelW = 110;
  const barMax = width - labelW - 120;
  const rowH = 20;
  const parts: string[] = [];
  let y = 30;
  parts.push(
    `<text x="10" y="20" font-size="15" font-weight="bold">zinit vs peers — ${xml(results.date)}${results.quick ? " (quick)" : ""}</text>`,
  );
  for (const w of results.workloads) {
    for (const m of w.metrics.filter((metric) => metric.chart)) {
      const cells = results.cells[w.id]?.[m.key] ?? {};
      const bars = results.peers
        .map((p) => ({ name: p.name, value: cells[p.name] }))
        .filter((b): b is { name: string; value: number } => typeof b.value === "number");
      if (bars.length === 0) continue;
      const max = Math.max(...bars.map((b) => b.value)) || 1;
      y += 18;
      parts.push(
        `<text x="10" y="${y}" font-size="13" font-weight="bold">${xml(`${w.id}: ${m.label} (${m.unit}, ${m.better} is better)`)}</text>`,
      );
      y += 6;
      for (const bar of bars) {
        const len = Math.max(1, (bar.value / max) * barMax);
        const color = COLORS[bar.name] ?? "#495057";
        parts.push(
          `<text x="${labelW - 6}" y="${y + 14}" font-size="12" text-anchor="end">${xml(bar.name)}</text>`,
          `<rect x="${labelW}" y="${y + 3}" width="${len.toFixed(1)}" height="${rowH - 6}" fill="${color}"/>`,
          `<text x="${(labelW + len + 6).toFixed(1)}" y="${y + 14}" font-size="12">${xml(formatNumber(bar.value))}</text>`,
        );
        y += rowH;
      }
      y += 8;
    }
  }
  const height = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<title>zinit vs peers — main benchmark figures, ${xml(results.date)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}
