// Pipes for service output. Both ends are O_CLOEXEC so no child inherits them except through an
// explicit dup2 in spawn; the read end is non-blocking because Bun.file(fd).stream() reads it, and
// the write end stays blocking because the child must never see EAGAIN.

import { errno, F_GETFL, F_SETFL, libc, O_CLOEXEC, O_NONBLOCK, osError } from "./libc.ts";

type PipeResult =
  | { ok: true; read: number; write: number }
  | { ok: false; errno: number; error: string };

/** A new pipe, or the errno of the call that failed (e.g. EMFILE), naming the call. */
export function pipe(): PipeResult {
  const fds = new Int32Array(2);
  if (libc.pipe2(fds, O_CLOEXEC) !== 0) {
    const n = errno();
    return { ok: false, errno: n, error: `pipe2: ${osError(n)}` };
  }
  const [read = -1, write = -1] = fds;
  const flags = libc.fcntl(read, F_GETFL, 0);
  if (flags < 0 || libc.fcntl(read, F_SETFL, flags | O_NONBLOCK) !== 0) {
    const n = errno();
    close(read);
    close(write);
    return { ok: false, errno: n, error: `fcntl(O_NONBLOCK): ${osError(n)}` };
  }
  return { ok: true, read, write };
}

/** Closes `fd`. A failure (EBADF, or EINTR, after which Linux has closed it anyway) leaves
 *  nothing for a caller to do, so it is not reported. */
export function close(fd: number): void {
  if (Number.isInteger(fd) && fd >= 0) libc.close(fd);
}
