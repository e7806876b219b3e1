// JSON-RPC error objects as upstream v0.2.28 sends them (docs/upstream.md): the code says
// what went wrong, the message is "<action>: <detail>", and `data` carries the machine-readable
// rest. Protocol errors (parse, invalid request, unknown method, bad params) use jsonrpsee's texts.

import { type ErrorKind, ZinitError } from "../core/errors.ts";

export const PARSE_ERROR = -32700;
const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;

export const SERVICE_NOT_FOUND = -32000;
const SERVICE_ALREADY_MONITORED = -32001;
export const SERVICE_IS_UP = -32002;
export const SERVICE_IS_DOWN = -32003;
const INVALID_SIGNAL = -32004;
export const CONFIG_ERROR = -32005;
export const SHUTTING_DOWN = -32006;
export const SERVICE_ALREADY_EXISTS = -32007;
export const SERVICE_FILE_ERROR = -32008;

/** The wire form; key order (code, message, data) is jsonrpsee's. */
export interface RpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

/**
 * Thrown by methods (and the dispatcher) to answer with exactly this error object. (The CLI's
 * DaemonError is the same object as a client receives it.)
 */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = "ApiError";
  }

  toJSON(): RpcErrorObject {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }
}

export const parseError = () => new ApiError(PARSE_ERROR, "Parse error");
export const invalidRequest = () => new ApiError(INVALID_REQUEST, "Invalid request");
export const methodNotFound = () => new ApiError(METHOD_NOT_FOUND, "Method not found");
/** `data` is jsonrpsee's reason text, e.g. "No more params" or "missing field `name`". */
export const invalidParams = (data: string) => new ApiError(INVALID_PARAMS, "Invalid params", data);
export const internalError = (data?: string) =>
  new ApiError(INTERNAL_ERROR, "Internal error", data);
/** jsonrpsee's batch limits (codes -32010 and -32011, unused by zinit's own errors). */
export const batchTooBig = (max: number) =>
  new ApiError(-32010, "The batch request was too large", `Exceeded max limit of ${max}`);
export const batchReplyTooBig = (max: number) =>
  new ApiError(-32011, "The batch response was too large", `Exceeded max limit of ${max}`);

const CODES: Record<ErrorKind, number> = {
  ServiceNotFound: SERVICE_NOT_FOUND,
  ServiceAlreadyMonitored: SERVICE_ALREADY_MONITORED,
  ServiceIsUp: SERVICE_IS_UP,
  ServiceIsDown: SERVICE_IS_DOWN,
  InvalidSignal: INVALID_SIGNAL,
  ConfigError: CONFIG_ERROR,
  ShuttingDown: SHUTTING_DOWN,
  ServiceAlreadyExists: SERVICE_ALREADY_EXISTS,
  ServiceFileError: SERVICE_FILE_ERROR,
  InvalidServiceName: INVALID_PARAMS,
  InternalError: INTERNAL_ERROR,
};

const CODE_NAMES = new Map<number, string>([
  [SERVICE_NOT_FOUND, "ServiceNotFound"],
  [SERVICE_ALREADY_MONITORED, "ServiceAlreadyMonitored"],
  [SERVICE_IS_UP, "ServiceIsUp"],
  [SERVICE_IS_DOWN, "ServiceIsDown"],
  [INVALID_SIGNAL, "InvalidSignal"],
  [CONFIG_ERROR, "ConfigError"],
  [SHUTTING_DOWN, "ShuttingDown"],
  [SERVICE_ALREADY_EXISTS, "ServiceAlreadyExists"],
  [SERVICE_FILE_ERROR, "ServiceFileError"],
  [INVALID_PARAMS, "InvalidServiceName"],
]);

/** Upstream's fixed hints, keyed by code. */
const HINTS = new Map<number, string>([
  [SERVICE_NOT_FOUND, "Ensure the service is monitored or the name is correct"],
  [
    SERVICE_ALREADY_MONITORED,
    "The service is already monitored; call service_forget or control it with start/stop",
  ],
  [SERVICE_IS_UP, "Service is already up; use service_stop or restart"],
  [SERVICE_IS_DOWN, "Service is down; start it before sending signals or requesting stats"],
  [INVALID_SIGNAL, "Use a valid POSIX signal like SIGTERM or SIGKILL"],
  [CONFIG_ERROR, "Verify the YAML file exists and is valid"],
  [SHUTTING_DOWN, "Wait for shutdown to complete or avoid mutating operations during shutdown"],
  [SERVICE_ALREADY_EXISTS, "Use a different name or delete the existing service first"],
  [SERVICE_FILE_ERROR, "Check permissions and filesystem availability"],
  [INVALID_PARAMS, "Name must not be empty or contain '/', '\\', '..' or NUL"],
]);
const DEFAULT_HINT = "Enable verbose logs and inspect cause_chain for details";

interface ErrorOptions {
  /** Code for errors that are not ZinitErrors (upstream: -32006 for shutdown, else -32603). */
  defaultCode?: number;
  /** `data.action` when it differs from the message's action, as in upstream's file errors. */
  dataAction?: string;
  /** Replaces the code's standard hint. */
  hint?: string;
  /** Extra `data` fields (e.g. `signal`). */
  extra?: Record<string, unknown>;
}

/** The v0.2.28 error object for a failure of `action` on `service` (null if none). */
export function zinitRpcError(
  code: number,
  action: string,
  detail: string,
  service: string | null,
  causes: readonly string[] | null,
  opts: ErrorOptions = {},
): ApiError {
  const retryable = code === SERVICE_ALREADY_MONITORED || code === SERVICE_IS_DOWN;
  return new ApiError(code, `${action}: ${detail}`, {
    code_name: CODE_NAMES.get(code) ?? "InternalError",
    service,
    action: opts.dataAction ?? action,
    retryable,
    cause_chain: causes && causes.length > 0 ? [...causes] : null,
    hint: opts.hint ?? HINTS.get(code) ?? DEFAULT_HINT,
    ...opts.extra,
  });
}

/** Maps anything a Control call threw to the error object of `action`. */
export function toRpcError(
  err: unknown,
  action: string,
  service: string | null,
  opts: ErrorOptions = {},
): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof ZinitError) {
    const extra =
      err.details.signal === undefined ? opts.extra : { signal: err.details.signal, ...opts.extra };
    return zinitRpcError(
      CODES[err.kind],
      action,
      err.message,
      err.details.service ?? service,
      err.details.causes ?? null,
      { ...opts, extra },
    );
  }
  const code = opts.defaultCode ?? INTERNAL_ERROR;
  return zinitRpcError(code, action, errorMessage(err), service, causeChain(err), opts);
}

/** `-32602 <action>: invalid service name '<name>'`; `reason` is what is wrong with it. */
export function invalidServiceName(action: string, name: string, reason: string): ApiError {
  return zinitRpcError(INVALID_PARAMS, action, `invalid service name '${name}'`, name, [reason]);
}

/** `-32004 parsing signal: invalid signal '<signal>'`, checked before anything else in kill. */
export function invalidSignal(signal: string, service: string): ApiError {
  return zinitRpcError(
    INVALID_SIGNAL,
    "parsing signal",
    `invalid signal '${signal}'`,
    service,
    null,
    {
      extra: { signal },
    },
  );
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The messages of `err.cause`, `err.cause.cause`, … (upstream's std::error::Error sources). */
export function causeChain(err: unknown): string[] | null {
  const chain: string[] = [];
  let cause = err instanceof Error ? err.cause : undefined;
  // Bounded: a cyclic cause chain must not hang PID 1.
  while (cause !== undefined && cause !== null && chain.length < 16) {
    chain.push(errorMessage(cause));
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return chain.length > 0 ? chain : null;
}
