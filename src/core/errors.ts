// Errors the supervisor reports to its callers. Transports map `kind` to their own wire form:
// JSON-RPC codes and `data` (src/api/errors.ts) or the legacy protocol's fixed strings.

export type ErrorKind =
  | "ServiceNotFound"
  | "ServiceAlreadyMonitored"
  | "ServiceIsUp"
  | "ServiceIsDown"
  | "InvalidSignal"
  | "ConfigError"
  | "ShuttingDown"
  | "ServiceAlreadyExists"
  | "ServiceFileError"
  | "InvalidServiceName"
  | "InternalError";

interface ErrorDetails {
  service?: string;
  signal?: string;
  /** Underlying causes, outermost first (upstream's `cause_chain`). */
  causes?: string[];
}

export class ZinitError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
    this.name = "ZinitError";
  }
}

export const notFound = (service: string) =>
  new ZinitError("ServiceNotFound", `service '${service}' not found`, { service });
export const alreadyMonitored = (service: string) =>
  new ZinitError("ServiceAlreadyMonitored", `service '${service}' already monitored`, { service });
export const isUp = (service: string) =>
  new ZinitError("ServiceIsUp", `service '${service}' is up`, { service });
export const isDown = (service: string) =>
  new ZinitError("ServiceIsDown", `service '${service}' is down`, { service });
export const shuttingDown = () => new ZinitError("ShuttingDown", "system is shutting down");

/** The message of anything thrown: an Error's message, or the value as text. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A file system error as one short phrase, `ENOSPC: no space left on device`: node's text without
 * the syscall and path it appends (the caller names the file its own way).
 */
export function fsErrorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (
    typeof e?.code === "string" &&
    typeof e.message === "string" &&
    e.message.startsWith(`${e.code}: `)
  ) {
    return e.message.replace(/, \w+(?: '.*')?$/s, "");
  }
  return errorText(err);
}
