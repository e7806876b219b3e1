// The open, read-only endpoints of the HTTP server, shaped for Kubernetes `httpGet` probes and
// Prometheus: they answer GET and HEAD whatever the Host, Origin or token (a kubelet sends the
// pod IP as Host and no token), and change nothing.
//
//   /healthz, /livez  200 while zinit answers
//   /readyz           200 when every service whose target is Up is ready (or those of
//                     ?service=a,b), else 503; a small JSON body says which are not and why
//   /metrics          the Prometheus text format (metrics.ts)

import { serviceNameError } from "../config/names.ts";
import type { Control } from "./control.ts";
import type { OpenRoute } from "./http.ts";
import { MAX_NAMES } from "./methods.ts";
import { metricsText } from "./metrics.ts";
import { readiness } from "./readiness.ts";

const json = (status: number, body: unknown) =>
  new Response(`${JSON.stringify(body)}\n`, {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });

/** `?service=a,b` (also repeated: `?service=a&service=b`); an error text for a bad one. */
function requested(url: URL): string[] | undefined | { error: string } {
  const values = url.searchParams.getAll("service");
  if (values.length === 0) return undefined;
  const names = values.flatMap((v) => v.split(",")).filter((n) => n !== "");
  if (names.length > MAX_NAMES) return { error: `at most ${MAX_NAMES} services` };
  for (const name of names) {
    const reason = serviceNameError(name);
    if (reason !== null) return { error: `invalid service name '${name}': ${reason}` };
  }
  return names;
}

export function probeRoutes(control: Control): ReadonlyMap<string, OpenRoute> {
  const alive = () => json(200, { status: "ok" });
  return new Map<string, OpenRoute>([
    ["/healthz", alive],
    ["/livez", alive],
    [
      "/readyz",
      (url) => {
        const names = requested(url);
        if (names !== undefined && !Array.isArray(names)) return json(400, names);
        const report = readiness(control, names);
        return json(report.ready ? 200 : 503, report);
      },
    ],
    [
      "/metrics",
      async () =>
        new Response(await metricsText(control), {
          headers: {
            "content-type": "text/plain; version=0.0.4; charset=utf-8",
            "cache-control": "no-store",
          },
        }),
    ],
  ]);
}
