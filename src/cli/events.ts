// `zinit events`: the daemon's event subscription printed as it comes, one line per service
// change (or, with --json, each item as the daemon sent it), until Ctrl-C.

import { isRecord } from "../values.ts";
import type { RpcClient } from "./client.ts";
import { print } from "./output.ts";

/** How a follower's wait ended: Ctrl-C (or SIGTERM), or the daemon went away. */
export type Ending = { kind: "signal" } | { kind: "closed"; error: Error };

/** `2026-01-01T00:00:01.500Z web Running target=Up pid=123 ready`. */
function serviceLine(s: Record<string, unknown>): string {
  const time = typeof s.time === "number" ? new Date(s.time).toISOString() : "-";
  const exit = isRecord(s.exit)
    ? s.exit.code !== null
      ? ` exit=${s.exit.code}`
      : ` signal=${s.exit.signal}`
    : "";
  return `${time} ${s.name} ${s.state} target=${s.target} pid=${s.pid}${exit} ${s.reason}\n`;
}

const services = (item: Record<string, unknown>) =>
  (Array.isArray(item.services) ? item.services : []).filter(isRecord);

/** The lines of one item of stream_subscribeEvents. */
function eventText(item: unknown): string {
  if (!isRecord(item)) return "";
  switch (item.event) {
    case "snapshot":
      return services(item).map(serviceLine).join("");
    case "change":
      return serviceLine(item);
    case "forgotten": {
      const time = typeof item.time === "number" ? new Date(item.time).toISOString() : "-";
      return `${time} ${item.name} forgotten\n`;
    }
    case "lagged":
      // What was missed is replaced by where every service stands now.
      return `zinit: ${item.dropped} events dropped\n${services(item).map(serviceLine).join("")}`;
    default:
      return "";
  }
}

export async function followEvents(
  client: RpcClient,
  json: boolean,
  ending: Promise<Ending>,
): Promise<number> {
  await client.subscribe("stream_subscribeEvents", [], (item) =>
    print(json ? `${JSON.stringify(item)}\n` : eventText(item)),
  );
  const end = await ending;
  if (end.kind === "signal") return 0;
  throw end.error;
}
