// Small shared helpers: bounded waiting and order statistics.

export class TimeoutError extends Error {}

/**
 * Polls `probe` until it returns a non-null value; throws TimeoutError after `timeoutMs`.
 * Every loop in the bench goes through here (or has its own deadline), so none can hang.
 */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => T | null | undefined | false,
  intervalMs = 5,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== null && value !== undefined && value !== false) return value;
    if (performance.now() >= deadline)
      throw new TimeoutError(`timed out after ${timeoutMs} ms: ${what}`);
    await Bun.sleep(intervalMs);
  }
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export const median = (values: number[]): number => percentile(values, 50);

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
