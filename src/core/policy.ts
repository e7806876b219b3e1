// Timing policy of the supervisor and the defaults of every optional service key. Upstream
// restarts every 2 s forever and retries tests every 2 s (busy-looping when the test can't be
// spawned); we back off exponentially from a fast start and never wait longer than upstream's
// fixed 2 s unless a service file asks for it.

/** `stability_period_ms`: a run at least this long resets the backoff (the next restart is immediate). */
export const DEFAULT_STABILITY_PERIOD_MS = 1_000;
/** `restart_delay_ms` / `restart_delay_max_ms`: the backoff after quick crashes. */
export const DEFAULT_RESTART_DELAY_MS = 100;
export const DEFAULT_RESTART_DELAY_MAX_MS = 2_000;
/** `max_restarts` (0: no limit) within `restart_window_ms`. */
export const DEFAULT_MAX_RESTARTS = 0;
export const DEFAULT_RESTART_WINDOW_MS = 60_000;
/** `log_max_size` and `log_keep` of `log: file`. */
export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024;
export const DEFAULT_LOG_KEEP = 5;
/** Liveness checks (`health.live`): period, per-check timeout, failures in a row that restart. */
export const DEFAULT_LIVE_PERIOD_MS = 10_000;
export const DEFAULT_LIVE_TIMEOUT_MS = 5_000;
export const DEFAULT_LIVE_FAILURE_THRESHOLD = 3;

const TEST_RETRY_BASE_MS = 50;
const MAX_TEST_BACKOFF_MS = 2_000;
/** A health check that has not exited by then is killed and counts as a failed check. */
export const TEST_TIMEOUT_MS = 10_000;
/** After SIGKILL, how long to wait for the kernel before giving up on a process (D state). */
export const KILL_GRACE_MS = 5_000;
/** The longest delay a timer can carry: longer ones would overflow Bun's 32-bit timers. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Delay before restart number `failures` (0 = the first restart after a stable run) with a
 * backoff that starts at `base` and doubles up to `max`.
 */
export function restartDelay(failures: number, base: number, max: number): number {
  if (failures <= 0) return 0;
  return Math.min(base * 2 ** Math.min(failures - 1, 30), max);
}

/** Delay before test attempt `attempt + 1`, after `attempt` failed ones (attempt ≥ 1). */
export function testRetryDelay(attempt: number): number {
  return Math.min(
    TEST_RETRY_BASE_MS * 2 ** Math.min(Math.max(0, attempt - 1), 30),
    MAX_TEST_BACKOFF_MS,
  );
}
