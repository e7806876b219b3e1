// The one HTTP/WebSocket server of a daemon, started at boot (`init --http`) or on request
// (`system_start_http_server`, which `zinit proxy` sends), over the same method table as the
// socket, and the access policy it applies to every request (CORS origins, hosts, token).

import type { HttpHost, HttpHostState } from "./control.ts";
import { type HttpAccess, type HttpServer, type OpenRoute, serveHttp } from "./http.ts";
import type { ApiLimits, Budget } from "./limits.ts";
import type { MethodTable } from "./methods.ts";

export interface HttpHostHandle extends HttpHost {
  /** Stops the server if one runs (at shutdown); never throws. */
  close(): Promise<void>;
}

interface HttpHostOptions {
  /** Called with the bound address each time a server starts. */
  onStart: (address: string) => void;
  limits?: Partial<ApiLimits>;
  /** The policy at start-up (`init --cors-origin/--allow-host/--token-file`). */
  access?: Partial<HttpAccess>;
  /** Read-only GET endpoints that skip the access checks (Kubernetes probes). */
  openRoutes?: ReadonlyMap<string, OpenRoute>;
  /** Shared with the unix sockets: see `ApiLimits.maxConnections`. */
  connections?: Budget;
}

/** `table` is read when a server starts: the table and the host are built together. */
export function createHttpHost(table: () => MethodTable, opts: HttpHostOptions): HttpHostHandle {
  let server: HttpServer | null = null;
  let startedBy: "init" | "request" | null = null;
  let access: HttpAccess = {
    corsOrigins: [...(opts.access?.corsOrigins ?? [])],
    allowHosts: [...(opts.access?.allowHosts ?? [])],
    token: opts.access?.token ?? null,
  };
  const state = (): HttpHostState => ({
    address: server?.address ?? null,
    started_by: startedBy,
    cors_origins: [...access.corsOrigins],
    allow_hosts: [...access.allowHosts],
    token: access.token !== null,
  });
  return {
    async start(address, startOpts = {}) {
      if (server && startedBy === "init" && !startOpts.boot) {
        throw new Error(
          `the HTTP/RPC server of 'zinit init --http' is running at ${server.address}; it is not replaced`,
        );
      }
      const next = await serveHttp(address, table(), {
        limits: opts.limits,
        access: () => access,
        openRoutes: opts.openRoutes,
        connections: opts.connections,
      });
      const previous = server;
      server = next;
      startedBy = startOpts.boot ? "init" : "request";
      await previous?.stop();
      opts.onStart(next.address);
      return next.address;
    },
    async stop() {
      if (!server) throw new Error("No HTTP/RPC server is currently running");
      const current = server;
      server = null;
      startedBy = null;
      await current.stop();
    },
    state,
    setAccess(change) {
      access = {
        corsOrigins: change.cors_origins ? [...change.cors_origins] : access.corsOrigins,
        allowHosts: change.allow_hosts ? [...change.allow_hosts] : access.allowHosts,
        token: change.token === undefined ? access.token : change.token,
      };
      return state();
    },
    async close() {
      const current = server;
      server = null;
      startedBy = null;
      await current?.stop().catch(() => {});
    },
  };
}
