import pkg from "../package.json" with { type: "json" };

// build/build.ts replaces ZINIT_REVISION with the git revision at compile time.
declare const ZINIT_REVISION: string | undefined;

export const VERSION: string = pkg.version;
export const REVISION: string = typeof ZINIT_REVISION === "string" ? ZINIT_REVISION : "dev";
export const VERSION_LINE = `zinit ${VERSION} (${REVISION})`;
