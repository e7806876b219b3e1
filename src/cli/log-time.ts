// The times `zinit log --since/--until` accept: an age (`30s`, `10m`, `2h`, `1d`, `1h30m`, `ms`
// too) counted back from now, `now`, or a date and time (`2026-01-31`, `2026-01-31T12:00`,
// `2026-01-31 12:00:05`, local time unless it ends in `Z` or an offset).

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds since the epoch, or null if `text` is neither an age nor a date. */
export function parseTime(text: string, now: number): number | null {
  const t = text.trim();
  if (t === "now") return now;
  if (/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(t)) {
    let age = 0;
    for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) {
      age += Number(m[1]) * (UNITS[m[2] as string] as number);
    }
    return now - age;
  }
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(t)) {
    return null;
  }
  // A bare date is midnight local time (Date.parse alone would read it as UTC).
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(t) ? `${t}T00:00` : t.replace(" ", "T");
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : null;
}
