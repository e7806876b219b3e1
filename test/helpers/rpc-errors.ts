// Expected JSON-RPC error objects, in upstream v0.2.28's shape, shared by the method-table unit
// tests and the end-to-end tests against the compiled daemon.

export const HINT_NOT_FOUND = "Ensure the service is monitored or the name is correct";
export const HINT_SHUTDOWN =
  "Wait for shutdown to complete or avoid mutating operations during shutdown";
export const HINT_NAME = "Name must not be empty or contain '/', '\\', '..' or NUL";
export const HINT_DEFAULT = "Enable verbose logs and inspect cause_chain for details";
export const HINT_DOWN = "Service is down; start it before sending signals or requesting stats";

/** The v0.2.28 error `data` object with upstream's field set. */
export function data(
  code_name: string,
  action: string,
  service: string | null,
  hint: string,
  extra: Record<string, unknown> = {},
) {
  const retryable = code_name === "ServiceAlreadyMonitored" || code_name === "ServiceIsDown";
  return { code_name, service, action, retryable, cause_chain: null, hint, ...extra };
}

export const notFound = (action: string, name: string) => ({
  code: -32000,
  message: `${action}: service '${name}' not found`,
  data: data("ServiceNotFound", action, name, HINT_NOT_FOUND),
});

export const invalidName = (action: string, name: string, reason = "must not contain '/'") => ({
  code: -32602,
  message: `${action}: invalid service name '${name}'`,
  data: { ...data("InvalidServiceName", action, name, HINT_NAME), cause_chain: [reason] },
});

export const shuttingDownError = (action: string, service: string | null) => ({
  code: -32006,
  message: `${action}: system is shutting down`,
  data: data("ShuttingDown", action, service, HINT_SHUTDOWN),
});

export const serviceDown = (action: string, name: string) => ({
  code: -32003,
  message: `${action}: service '${name}' is down`,
  data: data("ServiceIsDown", action, name, HINT_DOWN),
});

/** service_kill checks the signal before the name, so `service` may be anything sent. */
export const invalidSignal = (service: string, signal: string) => ({
  code: -32004,
  message: `parsing signal: invalid signal '${signal}'`,
  data: data(
    "InvalidSignal",
    "parsing signal",
    service,
    "Use a valid POSIX signal like SIGTERM or SIGKILL",
    { signal },
  ),
});

export const alreadyExists = (name: string) => ({
  code: -32007,
  message: `creating service: Service '${name}' already exists`,
  data: data(
    "ServiceAlreadyExists",
    "creating service file",
    name,
    "Use a different name or delete the existing service first",
  ),
});

/** service_create with content that fails the service-file schema with `reason`. */
export const invalidContent = (name: string, reason: string) => ({
  code: -32005,
  message: `creating service: content: ${reason}`,
  data: data(
    "ConfigError",
    "validating service config",
    name,
    "Ensure content is valid according to schema",
  ),
});
