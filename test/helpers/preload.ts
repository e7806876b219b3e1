// Loaded before every test file (bunfig.toml): after the whole run, one line on the tests that
// were skipped because this machine cannot run them (test/helpers/privilege.ts).

import { afterAll } from "bun:test";
import { skippedSummary } from "./privilege.ts";

afterAll(() => {
  const line = skippedSummary();
  if (line) console.warn(line);
});
