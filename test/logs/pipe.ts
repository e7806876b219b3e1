// A non-blocking pipe like the daemon's (pipe2 + O_NONBLOCK on the read end only), made with a
// local FFI binding so these tests do not depend on the sys layer.

import { dlopen, FFIType, ptr } from "bun:ffi";
import { readdirSync } from "node:fs";

const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const F_GETFL = 3;
const F_SETFL = 4;

const libc = dlopen("libc.so.6", {
  pipe2: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  fcntl: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
});

export function nonBlockingPipe(): { read: number; write: number } {
  const fds = new Int32Array(2);
  if (libc.symbols.pipe2(ptr(fds), O_CLOEXEC) !== 0) throw new Error("pipe2 failed");
  const read = fds[0]!;
  const flags = libc.symbols.fcntl(read, F_GETFL, 0);
  if (flags < 0 || libc.symbols.fcntl(read, F_SETFL, flags | O_NONBLOCK) !== 0) {
    throw new Error("fcntl failed");
  }
  return { read, write: fds[1]! };
}

export function openFds(): number[] {
  return readdirSync("/proc/self/fd")
    .map(Number)
    .sort((a, b) => a - b);
}
