// What a workload is: a fixed list of metrics, measured for one peer at a time.

import type { Peer } from "../peers/types.ts";

export interface Metric {
  key: string;
  label: string;
  unit: string;
  better: "lower" | "higher";
  /** Shown in the SVG chart of main figures. */
  chart?: boolean;
}

/** A number, or the reason there is none (not applicable, failed, timed out). */
export type Cell = number | string;

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
