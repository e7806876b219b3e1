// The HTTP + WebSocket server behind `system_start_http_server` / `zinit proxy`: the same method
// table as the socket, with jsonrpsee's status codes and texts and tower-http's permissive CORS
// so browser tools (the OpenRPC playground) keep working. It has no authentication, exactly like
// upstream; binding anything but loopback is the operator's decision.

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { ServerWebSocket } from "bun";
import { DEFAULT_MAX_FRAME } from "./framing.ts";
import { handleHttpBody, RpcSession } from "./jsonrpc.ts";
import type { MethodTable } from "./methods.ts";

export interface HttpServer {
  /** The bound address as `ip:port` (`[ip]:port` for IPv6), with the real port if 0 was asked. */
  address: string;
  stop(): Promise<void>;
}

export interface HttpOptions {
  /** Largest accepted request body or WebSocket message, in bytes. */
  maxBody?: number;
  /** A WebSocket peer with more unsent bytes than this is disconnected (a lagging follower). */
  maxQueued?: number;
}

const JSON_TYPES = new Set([
  "application/json",
  "application/json; charset=utf-8",
  "application/json;charset=utf-8",
  "application/json-rpc",
  "application/json-rpc; charset=utf-8",
  "application/json-rpc;charset=utf-8",
]);

const CORS: Record<string, string> = {
  "access-control-allow-origin": "*",
  vary: "origin, access-control-request-method, access-control-request-headers",
};

const PREFLIGHT: Record<string, string> = {
  ...CORS,
  "access-control-allow-methods": "*",
  "access-control-allow-headers": "*",
};

const text = (status: number, body: string) =>
  new Response(body, { status, headers: { ...CORS, "content-type": "text/plain" } });

/** Splits `host:port` / `[v6]:port`; the error text is upstream's (from std's SocketAddr parser). */
export function parseAddress(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(address) ?? /^([^:[\]\s]+):(\d{1,5})$/.exec(address);
  const port = Number(m?.[2]);
  if (!m || !(port <= 65535)) {
    // Upstream's cause chain (std's AddrParseError) is part of the documented error payload.
    throw new Error("Failed to parse socket address", {
      cause: new Error("invalid socket address syntax"),
    });
  }
  return { host: m[1] as string, port };
}

/** Upstream needed a literal IP (#34); a hostname is resolved here, first address wins. */
async function resolveHost(host: string): Promise<string> {
  if (isIP(host) !== 0) return host;
  try {
    return (await lookup(host)).address;
  } catch (err) {
    throw new Error(`Failed to resolve host '${host}': ${(err as Error).message}`);
  }
}

interface WsData {
  session: RpcSession | null;
}

export async function serveHttp(
  address: string,
  table: MethodTable,
  opts: HttpOptions = {},
): Promise<HttpServer> {
  const maxBody = opts.maxBody ?? DEFAULT_MAX_FRAME;
  const maxQueued = opts.maxQueued ?? 16 * 1024 * 1024;
  const { host, port } = parseAddress(address);
  const ip = await resolveHost(host);
  const decoder = new TextDecoder();

  let server: ReturnType<typeof Bun.serve<WsData>>;
  try {
    server = Bun.serve<WsData>({
      hostname: ip,
      port,
      // Bun answers 413 itself once a body passes this; the explicit check below covers bodies
      // sent without a Content-Length.
      maxRequestBodySize: maxBody,
      async fetch(req, srv) {
        try {
          if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
            if (srv.upgrade(req, { data: { session: null } })) return undefined;
            return text(400, "WebSocket upgrade failed");
          }
          if (req.method === "OPTIONS") {
            return new Response(null, { status: 200, headers: PREFLIGHT });
          }
          if (req.method !== "POST") {
            return text(405, "Used HTTP Method is not allowed. POST is required");
          }
          const type = req.headers.get("content-type")?.toLowerCase() ?? "";
          if (!JSON_TYPES.has(type)) {
            return text(
              415,
              "Supplied content type is not allowed. Content-Type: application/json is required",
            );
          }
          const body = await req.arrayBuffer();
          if (body.byteLength > maxBody) return text(413, "Request is too big");
          const reply = await handleHttpBody(table, decoder.decode(body));
          return new Response(reply ?? "", {
            status: 200,
            headers: { ...CORS, "content-type": "application/json; charset=utf-8" },
          });
        } catch {
          return text(500, "Internal server error");
        }
      },
      error() {
        return text(500, "Internal server error");
      },
      websocket: {
        maxPayloadLength: maxBody,
        backpressureLimit: maxQueued,
        // A subscriber that doesn't read is cut off instead of buffering without bound.
        closeOnBackpressureLimit: true,
        open(ws: ServerWebSocket<WsData>) {
          ws.data.session = new RpcSession(
            table,
            (msg) => {
              try {
                ws.send(msg);
              } catch {
                // The socket is already closing; close() below drops the session.
              }
            },
            { subscriptions: true, congested: () => ws.getBufferedAmount() > maxQueued / 4 },
          );
        },
        message(ws: ServerWebSocket<WsData>, message: string | Buffer) {
          const textMsg = typeof message === "string" ? message : decoder.decode(message);
          ws.data.session?.handleText(textMsg).catch(() => ws.terminate());
        },
        drain(ws: ServerWebSocket<WsData>) {
          ws.data.session?.drained();
        },
        close(ws: ServerWebSocket<WsData>) {
          ws.data.session?.close();
          ws.data.session = null;
        },
      },
    });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "EADDRINUSE") throw new Error("Address already in use (os error 98)");
    throw err;
  }
  const boundPort = server.port ?? port;
  return {
    address: isIP(ip) === 6 ? `[${ip}]:${boundPort}` : `${ip}:${boundPort}`,
    async stop() {
      await server.stop(true);
    },
  };
}
