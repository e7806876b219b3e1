// Byte buffers shared by the daemon's transports and the CLI's client.

/** `parts` (`total` bytes in all) as one array; a single part is returned as it is, not copied. */
export function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
