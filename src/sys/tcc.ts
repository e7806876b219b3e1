// C compiled at start-up by bun:ffi's TinyCC, for the few paths JavaScript cannot take (signal
// handlers that see siginfo, line scanning at memchr speed). A scratch image has no headers and no
// `libc.so` to link against, and TinyCC cannot read the binary's embedded files, so the source is
// written to a writable directory first and compiled with -nostdlib; the libc functions the C code
// calls are handed to it as pointers found with dlsym in the global scope.

import { cc, dlopen, type FFIFunction, FFIType, type Library, type Pointer } from "bun:ffi";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errorText } from "../core/errors.ts";

// Where dlsym lives: in libc itself on glibc ≥ 2.34 and musl, in libdl before.
const DL_NAMES = [
  "libc.so.6",
  "libdl.so.2",
  "libc.musl-x86_64.so.1",
  "libc.musl-aarch64.so.1",
] as const;

/** The addresses of libc's `names` (e.g. memchr, sigaction), or why one could not be found. */
export function libcPointers<N extends string>(names: readonly N[]): Record<N, Pointer> | string {
  const failures: string[] = [];
  for (const libName of DL_NAMES) {
    let dl: Library<{ dlsym: { args: [FFIType.ptr, FFIType.ptr]; returns: FFIType.ptr } }>;
    try {
      dl = dlopen(libName, { dlsym: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.ptr } });
    } catch (err) {
      failures.push(`${libName}: ${errorText(err)}`);
      continue;
    }
    try {
      const found = {} as Record<N, Pointer>;
      for (const name of names) {
        // RTLD_DEFAULT is the null handle on glibc and musl.
        const p = dl.symbols.dlsym(null, Buffer.from(`${name}\0`));
        if (typeof p !== "number" || p === 0) return `dlsym cannot find ${name}`;
        found[name] = p as Pointer;
      }
      return found;
    } finally {
      dl.close();
    }
  }
  return `cannot load dlsym (${failures.join("; ")})`;
}

/**
 * Compiles `source` (its file named `file` in a scratch directory that is removed at once) and
 * binds `symbols`; or says why it could not, prefixed by `what` ("the signal handlers").
 */
export function compileC<S extends Record<string, FFIFunction>>(
  what: string,
  file: string,
  source: string,
  symbols: S,
): Library<S> | string {
  const failures: string[] = [];
  for (const base of [...new Set([tmpdir(), "/run", "/tmp", "/var/run", "/dev/shm"])]) {
    let dir: string;
    try {
      dir = mkdtempSync(join(base, "zinit-cc-"));
    } catch (err) {
      failures.push(`${base}: ${errorText(err)}`);
      continue;
    }
    const path = join(dir, file);
    try {
      writeFileSync(path, source);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      failures.push(`${base}: ${errorText(err)}`);
      continue;
    }
    try {
      return cc({ source: path, library: [], flags: ["-nostdlib"], symbols });
    } catch (err) {
      // A compiler error does not depend on the directory; another one would fail the same way.
      return `cannot compile ${what}: ${errorText(err)}`;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return `no writable directory for the source of ${what} (${failures.join("; ")})`;
}
