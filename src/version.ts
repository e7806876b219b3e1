import pkg from "../package.json" with { type: "json" };

// build/build.ts replaces ZINIT_REVISION with the git revision at compile time.
declare const ZINIT_REVISION: string | undefined;

export const VERSION: string = pkg.version;
const REVISION: string = typeof ZINIT_REVISION === "string" ? ZINIT_REVISION : "dev";
/**
 * What `zinit -V` prints: exactly two words, as upstream's `git describe` tag does. ZOS's client
 * runs `zinit -V` and refuses to send shutdown/reboot unless it splits into two words.
 */
export const VERSION_LINE = `zinit v${VERSION}`;
/** `zinit -V -d`, `--help` and the daemon's start-up line: the version and the git revision. */
export const BUILD_LINE = `zinit v${VERSION} (${REVISION})`;
