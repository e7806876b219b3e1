// Pipes for service output. Both ends are O_CLOEXEC so no child inherits them except through an
// explicit dup2 in spawn; the read end is non-blocking because Bun.file(fd).stream() reads it, and
// the write end stays blocking because the child must never see EAGAIN.

import { errno, F_GETFL, F_SETFL, libc, O_CLOEXEC, O_NONBLOCK, osError } from "./libc.ts";

/** A new pipe; throws an Error naming the failed call (e.g. EMFILE) since nothing was created. */
export function pipe(): { read: number; write: number } {
  const fds = new Int32Array(2);
  if (libc.pipe2(fds, O_CLOEXEC) !== 0) throw new Error(`pipe2: ${osError(errno())}`);
  const [read = -1, write = -1] = fds;
  const flags = libc.fcntl(read, F_GETFL, 0);
  if (flags < 0 || libc.fcntl(read, F_SETFL, flags | O_NONBLOCK) !== 0) {
    const n = errno();
    close(read);
    close(write);
    throw new Error(`fcntl(O_NONBLOCK): ${osError(n)}`);
  }
  return { read, write };
}

/** Closes `fd`; errors are ignored because there is nothing a caller could do about them. */
export function close(fd: number): void {
  if (Number.isInteger(fd) && fd >= 0) libc.close(fd);
}
