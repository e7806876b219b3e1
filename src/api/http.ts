// The HTTP + WebSocket server behind `system_start_http_server` / `zinit proxy`: the same method
// table as the socket, with jsonrpsee's status codes and texts. Unlike upstream (CORS `*`, any
// Host), a browser page cannot drive it: a request whose Origin is not allowed, or whose Host is
// neither the listening address nor a loopback name, is refused (no DNS rebinding), and a bearer
// token, when set, is required on every request. Read-only GET endpoints can be declared open.

import { timingSafeEqual } from "node:crypto";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { ServerWebSocket } from "bun";
import { tooManyConnections } from "./framing.ts";
import { handleHttpBody, RpcSession } from "./jsonrpc.ts";
import { type ApiLimits, Budget, DEFAULT_LIMITS } from "./limits.ts";
import type { MethodTable } from "./methods.ts";
import { OutboundQueue } from "./outbound.ts";

export interface HttpServer {
  /** The bound address as `ip:port` (`[ip]:port` for IPv6), with the real port if 0 was asked. */
  address: string;
  stop(): Promise<void>;
}

/** Who may use the API over HTTP, read on every request (so a change applies at once). */
export interface HttpAccess {
  /** Origins (`https://ui.example:8443`) whose pages may call the API; `*` allows any. */
  corsOrigins: readonly string[];
  /** Host header names accepted besides the listening address and loopback names. */
  allowHosts: readonly string[];
  /** When set, every request needs `Authorization: Bearer <token>`. */
  token: string | null;
}

const OPEN_ACCESS_NONE: HttpAccess = { corsOrigins: [], allowHosts: [], token: null };

/** A read-only GET endpoint that skips the Host, Origin and token checks (Kubernetes probes). */
export type OpenRoute = (url: URL) => Response | Promise<Response>;

interface HttpOptions {
  limits?: Partial<ApiLimits>;
  /** Default: nothing beyond loopback, no token. */
  access?: () => HttpAccess;
  /** Path → handler, for GET and HEAD only; everything else keeps every check. */
  openRoutes?: ReadonlyMap<string, OpenRoute>;
  /** Open connections, shared with the daemon's unix sockets: each WebSocket holds one. */
  connections?: Budget;
}

const JSON_TYPES = new Set([
  "application/json",
  "application/json; charset=utf-8",
  "application/json;charset=utf-8",
  "application/json-rpc",
  "application/json-rpc; charset=utf-8",
  "application/json-rpc;charset=utf-8",
]);

const text = (status: number, body: string, headers: Record<string, string> = {}) =>
  new Response(body, { status, headers: { ...headers, "content-type": "text/plain" } });

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
  if (host === "localhost") return "127.0.0.1";
  if (isIP(host) !== 0) return host;
  try {
    return (await lookup(host)).address;
  } catch (err) {
    throw new Error(`Failed to resolve host '${host}': ${(err as Error).message}`);
  }
}

/** 127.0.0.0/8 and ::1 in any spelling (also as an IPv4-mapped address). */
export function isLoopbackIp(ip: string): boolean {
  const v4 = /^(\d{1,3})\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.exec(ip.replace(/^::ffff:/i, ""));
  if (v4) return v4[1] === "127";
  return /^(0{0,4}:){2,7}0{0,3}1$/.test(ip);
}

const isWildcard = (ip: string) => ip === "0.0.0.0" || /^(0{0,4}:){2,7}0{0,4}$/.test(ip);

/** The host part of a Host header (`[::1]:80` → `::1`, `Example.COM.:80` → `example.com`). */
function hostName(header: string): string {
  const v6 = /^\[([^\]]+)\](?::\d*)?$/.exec(header);
  const name = v6 ? (v6[1] as string) : header.replace(/:\d*$/, "");
  return name.toLowerCase().replace(/\.$/, "");
}

/**
 * A Host a browser sends for a page of a DNS-rebinding attacker is a name, never an IP literal:
 * literals are accepted when they are the bound address (any, for a wildcard bind), names only
 * when they are `localhost` or allowed explicitly.
 */
export function hostAllowed(header: string | null, boundIp: string, access: HttpAccess): boolean {
  if (header === null) return true;
  const name = hostName(header);
  if (access.allowHosts.some((h) => h.toLowerCase() === name)) return true;
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  if (isIP(name) === 0) return false;
  return isLoopbackIp(name) || isWildcard(boundIp) || name === boundIp.toLowerCase();
}

function originAllowed(origin: string, access: HttpAccess): boolean {
  return access.corsOrigins.includes("*") || access.corsOrigins.includes(origin);
}

function tokenMatches(header: string | null, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (!m) return false;
  const given = Buffer.from(m[1] as string);
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** What a request from `origin` gets back so the browser lets its page read the answer. */
function corsHeaders(origin: string | null): Record<string, string> {
  if (origin === null) return {};
  return { "access-control-allow-origin": origin, vary: "origin" };
}

interface WsData {
  session: RpcSession | null;
  out: OutboundQueue | null;
  /** Messages being answered; past maxInflight (or while congested) reading pauses. */
  inflight: number;
  pauseCheck?: () => void;
}

export async function serveHttp(
  address: string,
  table: MethodTable,
  opts: HttpOptions = {},
): Promise<HttpServer> {
  const limits: ApiLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const connections = opts.connections ?? new Budget(limits.maxConnections);
  const access = opts.access ?? (() => OPEN_ACCESS_NONE);
  const openRoutes = opts.openRoutes ?? new Map<string, OpenRoute>();
  const { host, port } = parseAddress(address);
  const ip = await resolveHost(host);
  const decoder = new TextDecoder();

  /** null when the request may go on; otherwise the refusal. */
  const refuse = (req: Request): Response | null => {
    const policy = access();
    if (!hostAllowed(req.headers.get("host"), ip, policy)) {
      return text(403, "Host not allowed (zinit --allow-host HOST opens it)");
    }
    const origin = req.headers.get("origin");
    if (origin !== null && !originAllowed(origin, policy)) {
      return text(403, "Origin not allowed (zinit --cors-origin ORIGIN opens it)");
    }
    // A preflight carries no credentials by design; the request it announces does.
    if (policy.token !== null && req.method !== "OPTIONS") {
      if (!tokenMatches(req.headers.get("authorization"), policy.token)) {
        return text(401, "Unauthorized: a bearer token is required", {
          ...corsHeaders(origin),
          "www-authenticate": 'Bearer realm="zinit"',
        });
      }
    }
    return null;
  };

  let server: ReturnType<typeof Bun.serve<WsData>>;
  try {
    server = Bun.serve<WsData>({
      hostname: ip,
      port,
      // Bun answers 413 itself once a body passes this; the explicit check below covers bodies
      // sent without a Content-Length.
      maxRequestBodySize: limits.maxFrame,
      async fetch(req, srv) {
        try {
          const url = new URL(req.url);
          const openRoute = openRoutes.get(url.pathname);
          if (openRoute && (req.method === "GET" || req.method === "HEAD"))
            return await openRoute(url);
          const refused = refuse(req);
          if (refused) return refused;
          const origin = req.headers.get("origin");
          const cors = corsHeaders(origin);
          if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
            if (!connections.take(1)) {
              return text(503, `Server is busy: ${tooManyConnections(connections.max)}`, cors);
            }
            if (srv.upgrade(req, { data: { session: null, out: null, inflight: 0 } }))
              return undefined;
            connections.release(1);
            return text(400, "WebSocket upgrade failed", cors);
          }
          if (req.method === "OPTIONS") {
            return new Response(null, {
              status: 200,
              headers: {
                ...cors,
                "access-control-allow-methods": "POST, OPTIONS",
                "access-control-allow-headers": "content-type, authorization",
                vary: "origin, access-control-request-method, access-control-request-headers",
              },
            });
          }
          if (req.method !== "POST") {
            return text(405, "Used HTTP Method is not allowed. POST is required", cors);
          }
          const type = req.headers.get("content-type")?.toLowerCase() ?? "";
          if (!JSON_TYPES.has(type)) {
            return text(
              415,
              "Supplied content type is not allowed. Content-Type: application/json is required",
              cors,
            );
          }
          const body = await req.arrayBuffer();
          if (body.byteLength > limits.maxFrame) return text(413, "Request is too big", cors);
          const reply = await handleHttpBody(table, decoder.decode(body), limits, req.signal);
          return new Response(reply ?? "", {
            status: 200,
            headers: { ...cors, "content-type": "application/json; charset=utf-8" },
          });
        } catch {
          return text(500, "Internal server error");
        }
      },
      error() {
        return text(500, "Internal server error");
      },
      websocket: {
        maxPayloadLength: limits.maxFrame,
        // Our own queue decides (OutboundQueue); Bun's limit is only the last resort.
        backpressureLimit: limits.maxQueued * 2,
        closeOnBackpressureLimit: true,
        open(ws: ServerWebSocket<WsData>) {
          const updatePause = () => {
            if (out.congested || ws.data.inflight >= limits.maxInflight) ws.pause();
            else ws.resume();
          };
          const out: OutboundQueue = new OutboundQueue(
            {
              kind: "messages",
              send: (msg) => ws.sendText(msg) !== 0,
              buffered: () => ws.getBufferedAmount(),
            },
            limits,
            {
              // Messages already received may still be dispatched; no new ones are read.
              congestion: () => updatePause(),
              emptied: () => ws.data.session?.outputEmptied(),
              overflow: () => ws.terminate(),
              gone: () => ws.terminate(),
            },
          );
          ws.data.out = out;
          ws.data.session = new RpcSession(table, (msg) => out.push(msg), {
            subscriptions: true,
            congested: () => out.congested,
            batch: limits,
            transport: "websocket",
          });
          ws.data.pauseCheck = updatePause;
        },
        message(ws: ServerWebSocket<WsData>, message: string | Buffer) {
          const textMsg = typeof message === "string" ? message : decoder.decode(message);
          const session = ws.data.session;
          if (!session) return;
          ws.data.inflight++;
          ws.data.pauseCheck?.();
          session.handleText(textMsg).then(
            () => {
              ws.data.inflight--;
              ws.data.pauseCheck?.();
            },
            () => ws.terminate(),
          );
        },
        // Bun's `drain`: the socket can take more.
        drain(ws: ServerWebSocket<WsData>) {
          ws.data.out?.writable();
        },
        close(ws: ServerWebSocket<WsData>) {
          connections.release(1);
          ws.data.out?.close();
          ws.data.session?.close();
          ws.data.session = null;
          ws.data.out = null;
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
