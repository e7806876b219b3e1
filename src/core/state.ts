import { signalName } from "./signals.ts";
import type { ExitStatus, State } from "./types.ts";

/** Upstream's Rust Debug rendering, e.g. `Error(Exited(Pid(12), 1))`; clients parse it. */
export function stateString(state: State): string {
  if (state.kind !== "Error") return state.kind;
  const { pid, status } = state;
  return status.kind === "exited"
    ? `Error(Exited(Pid(${pid}), ${status.code}))`
    : `Error(Signaled(Pid(${pid}), ${signalName(status.signal)}, ${status.core}))`;
}

/** Did the process end the way `success_exit_codes` (default [0]) calls a success? */
export function isSuccess(status: ExitStatus, successCodes: readonly number[]): boolean {
  return status.kind === "exited" && successCodes.includes(status.code);
}

/** The state a main process leaves behind when it ends. */
export function exitState(
  pid: number,
  status: ExitStatus,
  successCodes: readonly number[] = [0],
): State {
  return isSuccess(status, successCodes) ? { kind: "Success" } : { kind: "Error", pid, status };
}

export function describeExit(status: ExitStatus): string {
  return status.kind === "exited"
    ? `exited with code ${status.code}`
    : `killed by ${signalName(status.signal)}${status.core ? " (core dumped)" : ""}`;
}

/** The exit code a shell would report: the code, or 128 + the signal number. */
export function shellExitCode(status: ExitStatus): number {
  return status.kind === "exited" ? status.code : 128 + status.signal;
}
