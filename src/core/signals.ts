// Linux signal names as upstream's nix `Signal::from_str` accepts them (x86_64 and aarch64 share
// these numbers). Names need the SIG prefix and are matched case-insensitively, as upstream does.

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

const NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(SIGNALS).map(([name, num]) => [num, name]),
);

export const SIGKILL = 9;
export const SIGTERM = 15;

/** Parses "sigterm"/"SIGTERM" into 15; anything else (numbers, no prefix, RT signals) is null. */
export function parseSignal(name: string): number | null {
  const upper = name.toUpperCase();
  return Object.hasOwn(SIGNALS, upper) ? (SIGNALS[upper] ?? null) : null;
}

/** 15 → "SIGTERM"; unnamed numbers render as "SIG<n>" so a status line never breaks. */
export function signalName(num: number): string {
  return NAMES[num] ?? `SIG${num}`;
}
