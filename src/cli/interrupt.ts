// How a long-running client verb (`log`, `proxy`) ends: a signal from the user, or the daemon's
// end of the connection.

import type { RpcClient } from "./client.ts";

export type Ending = { kind: "signal" } | { kind: "closed"; error: Error };

/**
 * Waits for SIGINT/SIGTERM or the end of the connection. A second signal while the caller is
 * still cleaning up exits at once, so a hung daemon cannot trap the user.
 */
export function untilInterrupted(client: RpcClient): Promise<Ending> {
  return new Promise((resolve) => {
    let interrupted = false;
    const onSignal = () => {
      if (interrupted) process.exit(1);
      interrupted = true;
      resolve({ kind: "signal" });
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    void client.closed.then((error) => resolve({ kind: "closed", error }));
  });
}
