// The wire side of probes and notifications, as plain functions: which address a probe URL
// names, the request sent, how the reply's status line is read, and what an sd_notify datagram
// says. Shared by the schema (a bad URL fails at load) and the shell (which does the I/O).

interface HttpTarget {
  host: string;
  port: number;
  /** Path and query, e.g. `/healthz?full=1`. */
  path: string;
  /** The Host header: the URL's host[:port] as written. */
  hostHeader: string;
}

/**
 * An `http://` URL whose host is an IP address or `localhost` (names would need a resolver thread
 * in PID 1, which a full pids cgroup can refuse). Returns why not, as text, otherwise.
 */
export function parseProbeUrl(text: string): HttpTarget | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `not a URL: ${JSON.stringify(text)}`;
  }
  if (url.protocol !== "http:") return `only http:// URLs are probed, not ${url.protocol}//`;
  if (url.username || url.password) return "a probe URL carries no credentials";
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!isIpLiteral(host) && host !== "localhost") {
    return `the host must be an IP address or localhost, not '${host}'`;
  }
  return {
    host,
    port: url.port === "" ? 80 : Number(url.port),
    path: `${url.pathname}${url.search}`,
    hostHeader: url.host,
  };
}

/** `host:port` of a tcp probe (`[v6]:port` for IPv6), or why not. */
export function parseProbeAddress(text: string): { host: string; port: number } | string {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]\s]+):(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m || !(port >= 1 && port <= 65535)) return `expected host:port, got ${JSON.stringify(text)}`;
  const host = m[1] as string;
  if (!isIpLiteral(host) && host !== "localhost") {
    return `the host must be an IP address or localhost, not '${host}'`;
  }
  return { host, port };
}

function isIpLiteral(host: string): boolean {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) return host.split(".").every((n) => Number(n) <= 255);
  return host.includes(":") && /^[0-9a-fA-F:.]+$/.test(host);
}

/** The GET a probe sends: HTTP/1.1, closed after the answer. */
export function httpRequest(target: HttpTarget): string {
  return (
    `GET ${target.path || "/"} HTTP/1.1\r\nHost: ${target.hostHeader}\r\n` +
    "User-Agent: zinit-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n"
  );
}

/** The status code of a reply once its status line is complete; null before, NaN if malformed. */
export function replyStatus(reply: string): number | null {
  const eol = reply.indexOf("\r\n");
  if (eol === -1) return reply.length > 1024 ? Number.NaN : null;
  const m = /^HTTP\/\d(?:\.\d)? (\d{3})(?: |$)/.exec(reply.slice(0, eol));
  return m ? Number(m[1]) : Number.NaN;
}

/** An sd_notify datagram's `KEY=VALUE` lines as systemd reads them; other lines are ignored. */
export function parseNotify(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    // defineProperty: a key called `__proto__` stays an ordinary entry.
    Object.defineProperty(fields, line.slice(0, eq), {
      value: line.slice(eq + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return fields;
}
