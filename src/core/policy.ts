// Timing policy of the supervisor. Upstream restarts every 2 s forever and retries tests every
// 2 s (busy-looping when the test can't be spawned); we back off exponentially from a fast
// start and never wait longer than upstream's fixed 2 s.

/** A run at least this long counts as healthy: the next restart after it is immediate. */
export const HEALTHY_RUN_MS = 10_000;
export const RESTART_BASE_MS = 100;
export const MAX_BACKOFF_MS = 2_000;
export const TEST_RETRY_BASE_MS = 50;
/** A health check that has not exited by then is killed and counts as a failed check. */
export const TEST_TIMEOUT_MS = 10_000;
/** After SIGKILL, how long to wait for the kernel before giving up on a process (D state). */
export const KILL_GRACE_MS = 5_000;

/** Delay before restart number `failures` (0 = the first restart after a healthy run). */
export function restartDelay(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(RESTART_BASE_MS * 2 ** (failures - 1), MAX_BACKOFF_MS);
}

/** Delay before test attempt `attempt + 1`, after `attempt` failed ones (attempt ≥ 1). */
export function testRetryDelay(attempt: number): number {
  return Math.min(TEST_RETRY_BASE_MS * 2 ** Math.max(0, attempt - 1), MAX_BACKOFF_MS);
}
