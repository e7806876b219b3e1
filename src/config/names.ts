// Which service names are acceptable. A name becomes the file `<name>.yaml` in the config
// directory and appears in log lines and RPC replies, so it must be one safe path component.
// Unlike upstream (which rejects every `.` in RPC calls but loads `a.b.yaml` from disk, so such a
// service can't be monitored again) we accept dots anywhere; only `.` and `..` are refused.

/** A name is the stem of `<name>.yaml`, and a file name may be at most 255 bytes (NAME_MAX). */
export const MAX_NAME_BYTES = 255 - ".yaml".length;

/** Null if `name` is a valid service name, else why not (e.g. "must not contain '/'"). */
export function serviceNameError(name: unknown): string | null {
  if (typeof name !== "string") return "must be a string";
  if (name === "") return "must not be empty";
  if (name === "." || name === "..") return `must not be '${name}'`;
  if (name.includes("/")) return "must not contain '/'";
  if (name.includes("\\")) return "must not contain '\\'";
  // A newline or other control character would let a name forge log lines and protocol replies.
  if (/[\u0000-\u001f\u007f]/.test(name)) return "must not contain control characters";
  if (!name.isWellFormed()) return "must be valid Unicode";
  if (Buffer.byteLength(name, "utf8") > MAX_NAME_BYTES) {
    return `must be at most ${MAX_NAME_BYTES} bytes long`;
  }
  return null;
}
