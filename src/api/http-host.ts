// The one HTTP/WebSocket server of a daemon, started at boot (`init --http`) or on request
// (`system_start_http_server`, which `zinit proxy` sends), over the same method table as the socket.

import type { HttpHost } from "./control.ts";
import { type HttpServer, serveHttp } from "./http.ts";
import type { MethodTable } from "./methods.ts";

export interface HttpHostHandle extends HttpHost {
  /** Stops the server if one runs (at shutdown); never throws. */
  close(): Promise<void>;
}

/** `table` is read when a server starts: the table and the host are built together. */
export function createHttpHost(
  table: () => MethodTable,
  onStart: (address: string) => void,
): HttpHostHandle {
  let server: HttpServer | null = null;
  return {
    async start(address) {
      const next = await serveHttp(address, table());
      const previous = server;
      server = next;
      await previous?.stop();
      onStart(next.address);
      return next.address;
    },
    async stop() {
      if (!server) throw new Error("No HTTP/RPC server is currently running");
      const current = server;
      server = null;
      await current.stop();
    },
    async close() {
      const current = server;
      server = null;
      await current?.stop().catch(() => {});
    },
  };
}
