// zinit's own messages: one line each on stderr as `zinit: <LEVEL> <msg>` (upstream's fern format
// without the Rust module path), on /dev/kmsg in init mode, and in the ring as `[-] zinit: <msg>`
// so `zinit log zinit` shows them (upstream never puts them in the ring).

import { constants, openSync, writeSync } from "node:fs";
import { type ConsolaReporter, createConsola, type LogObject } from "consola/core";
import type { LogRing } from "./ring.ts";
import { outputWriter } from "./writer.ts";

export type LogLevel = "debug" | "info";

const LEVELS: Record<LogLevel, number> = { info: 3, debug: 4 };

/** kmsg priorities (syslog severities), so `dmesg -l` can tell errors from chatter. */
const KMSG_PRIORITY: Record<string, number> = { error: 3, warn: 4, info: 6, debug: 7 };

let ring: LogRing | null = null;
let kmsg: number | null = null;

const reporter: ConsolaReporter = {
  log(entry: LogObject) {
    // A message is one line everywhere: an embedded newline would forge a line in each sink.
    const message = entry.args.map(String).join(" ").replace(/\r?\n/g, "\\n");
    const text = `zinit: ${entry.type.toUpperCase()} ${message}`;
    outputWriter(2).writeNow(`${text}\n`);
    if (kmsg !== null) {
      try {
        // One write is one kmsg record; the `<N>` prefix is taken as its priority, not printed.
        writeSync(kmsg, `<${KMSG_PRIORITY[entry.type] ?? 6}>${text}\n`);
      } catch {
        // Rate-limited or full: the kernel log is best effort.
      }
    }
    ring?.pushText("zinit", "stderr", message);
  },
};

// No throttling: consola would otherwise fold repeated messages (a crash loop) into one.
const consola = createConsola({ level: LEVELS.info, reporters: [reporter], throttle: 0 });

export const log: {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
} = {
  debug: (message) => consola.debug(message),
  info: (message) => consola.info(message),
  warn: (message) => consola.warn(message),
  error: (message) => consola.error(message),
};

export function setLogLevel(level: LogLevel): void {
  consola.level = LEVELS[level];
}

/** Also writes every message to /dev/kmsg (init mode). Returns false if it cannot be opened. */
export function enableKmsg(path = "/dev/kmsg"): boolean {
  if (kmsg !== null) return true;
  try {
    kmsg = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    return true;
  } catch {
    return false;
  }
}

/** Mirrors every message into the ring from now on; `null` detaches. */
export function attachRing(target: LogRing | null): void {
  ring = target;
}
