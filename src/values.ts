// Checks for values that come from outside (parsed JSON, YAML): the one definition every layer
// uses.

/** A plain object: not null, not an array. */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
