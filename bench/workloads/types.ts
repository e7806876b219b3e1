// What a workload is: a fixed list of metrics, measured for one peer at a time.

import type { Peer } from "../peers/types.ts";

/** A number, or the reason there is none (not applicable, failed, timed out). */
export type Cell = number | string;

export interface Metric {
  key: string;
  label: string;
  unit: string;
  better: "lower" | "higher";
  /** Shown in the SVG chart of main figures. */
  chart?: boolean;
  /** What zinit is aiming for (from the benchmark issue). */
  target?: Target;
}

export interface Target {
  /** How the target reads in the report, e.g. "< 25". */
  text: string;
  /** Whether zinit's value meets it; `cells` holds every measured peer's value. */
  met(zinit: number, cells: Record<string, Cell>): boolean;
}

export const below = (limit: number): Target => ({
  text: `< ${limit.toLocaleString("en-US")}`,
  met: (z) => z < limit,
});

export const above = (limit: number): Target => ({
  text: `> ${limit.toLocaleString("en-US")}`,
  met: (z) => z > limit,
});

export const zero: Target = { text: "0", met: (z) => z === 0 };

/** At most `peer`'s figure (met when that peer was not measured is not claimed). */
export const atMostPeer = (peer: string): Target => ({
  text: `≤ ${peer}`,
  met: (z, cells) => typeof cells[peer] === "number" && z <= (cells[peer] as number),
});

/** At least the best figure among the other peers (higher is better). */
export const atLeastBestPeer: Target = {
  text: "≥ best peer",
  met: (z, cells) =>
    Object.entries(cells).every(([name, v]) => name === "zinit" || typeof v !== "number" || z >= v),
};

export interface Context {
  quick: boolean;
  /** A fresh, empty directory for one supervisor run. */
  newDir(label: string): string;
  /** Progress line on stderr. */
  note(message: string): void;
}

export interface Workload {
  id: string;
  title: string;
  metrics: Metric[];
  /** Cells by metric key; a missing key is reported as "-". */
  run(peer: Peer, ctx: Context): Promise<Record<string, Cell>>;
}
