// The daemon's first moments, in the first module main.ts evaluates (it imports nothing
// statically, so it runs before any other module).
//
// Signals: for PID 1 the kernel discards every signal that has no handler yet, so a `docker stop`
// right after `docker run` was lost until the daemon had set up its handlers, tens of
// milliseconds in. For `zinit init` this module catches the stop signals at once and keeps them;
// the daemon takes them over once it can act on them (init.ts). Before the runtime has run its
// first instruction of ours (about 8 ms after exec), nothing can catch them.
//
// The re-exec: the daemon runs with runtime options that only take effect at start-up
// (runtime.ts), so it re-executes itself once, from here, before anything else is loaded. Across
// that execve the stop signals are blocked in the calling thread, which is all that survives an
// exec, and the new image's threads inherit the block: a signal sent meanwhile stays pending
// instead of being discarded, and is delivered once the new image has its catchers and unblocks
// them. Signals caught before the execve are carried over in ZINIT_EARLY_SIGNALS.

export const EARLY_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGUSR2"] as const;
export type EarlySignal = (typeof EARLY_SIGNALS)[number];

const CARRY_ENV = "ZINIT_EARLY_SIGNALS";

/** Whether argv (without the program) runs `zinit init`: its first word that is not an option. */
function runsInit(argv: string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "-s" || arg === "--socket") i++;
    else if (!arg.startsWith("-")) return arg === "init";
  }
  return false;
}

const caught: EarlySignal[] = [];
const catchers = new Map<EarlySignal, () => void>();

/** Why the daemon runs without its runtime options (it could not re-execute), or null. */
export let notReexecuted: string | null = null;

if (runsInit(process.argv.slice(2))) {
  for (const sig of EARLY_SIGNALS) {
    const catcher = () => {
      caught.push(sig);
    };
    catchers.set(sig, catcher);
    process.on(sig, catcher);
  }
  const carried = process.env[CARRY_ENV];
  delete process.env[CARRY_ENV];
  for (const sig of carried?.split(",") ?? []) {
    if ((EARLY_SIGNALS as readonly string[]).includes(sig)) caught.push(sig as EarlySignal);
  }
  const runtime = await import("./runtime.ts");
  if (!runtime.jscOptionsApplied()) {
    // Blocked in this thread, a signal from now on goes to one of the runtime's other threads,
    // and Bun hands it to the catchers on a later turn of the event loop: one turn now, then the
    // exec at once, so all but one sent in the last fraction of a millisecond go with it.
    runtime.blockEarlySignals();
    await new Promise((resolve) => setTimeout(resolve, 0));
    notReexecuted = runtime.reexecWithJscOptions(carryCaught());
  }
  // In the new image (or if the exec failed): let the signals sent meanwhile in.
  runtime.unblockEarlySignals();
  runtime.forgetJscOptions();
}

/** The environment entry that hands the signals caught so far to the re-executed image. */
function carryCaught(): Record<string, string> {
  return caught.length > 0 ? { [CARRY_ENV]: caught.join(",") } : {};
}

/**
 * Installs the daemon's own handlers, then removes the catchers (so no moment is without one),
 * and returns the signals caught until now, oldest first, for the daemon to act on.
 */
export function takeOver(handlers: Partial<Record<EarlySignal, () => void>>): EarlySignal[] {
  for (const [sig, handler] of Object.entries(handlers)) if (handler) process.on(sig, handler);
  for (const [sig, catcher] of catchers) process.off(sig, catcher);
  catchers.clear();
  return caught.splice(0);
}
