// The one zinit executable: `zinit init` is the daemon, every other verb is a client of its
// socket. The daemon is loaded only for `init`, so a client call stays cheap.

import { parseCommandLine, UsageError } from "./cli/args.ts";
import { DaemonError, TransportError } from "./cli/client.ts";
import { runClient } from "./cli/commands.ts";
import { helpText } from "./cli/help.ts";
import { exit, print, printError } from "./cli/output.ts";
import { clientSocket, defaultSocket, UPSTREAM_SOCKET } from "./defaults.ts";
import { notReexecuted } from "./sys/startup.ts";
import { BUILD_LINE, VERSION_LINE } from "./version.ts";

async function main(argv: string[]): Promise<number> {
  const action = parseCommandLine(
    argv,
    (forInit) => (forInit ? defaultSocket() : clientSocket()),
    (socket) =>
      process.getuid?.() === 0 && !process.env.ZINIT_SOCKET && socket !== UPSTREAM_SOCKET
        ? UPSTREAM_SOCKET
        : null,
  );
  switch (action.kind) {
    case "help":
      print(helpText(defaultSocket(), action.verb));
      return 0;
    case "version":
      // `-V` alone must stay two words (ZOS parses it); `-d` adds the revision.
      print(`${action.detailed ? BUILD_LINE : VERSION_LINE}\n`);
      return 0;
    case "init": {
      const { runInit } = await import("./init.ts");
      return runInit(action.options, notReexecuted);
    }
    case "client":
      return runClient(action.invocation);
  }
}

function describe(err: unknown): string {
  if (err instanceof UsageError || err instanceof DaemonError || err instanceof TransportError) {
    return err.message;
  }
  return `internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
}

try {
  await exit(await main(process.argv.slice(2)));
} catch (err) {
  printError(describe(err));
  await exit(1);
}
