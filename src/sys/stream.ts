// Reading a pipe without polling: Bun.file(fd).stream() on the non-blocking read end is the only
// reader that works on such a fd without polling or losing data; it reads as fast as the pipe
// fills and waits for us between chunks, so memory stays flat.
//
// getReader() dup()s the fd synchronously and Bun closes its dup at EOF (or on cancel), never the
// fd it was given. So ours is closed right after getReader(): each live stream holds one fd, not
// two, which halves what thousands of services cost against RLIMIT_NOFILE.

import { closeSync } from "node:fs";
import type { ChunkSink } from "./port.ts";

/** Reads `fd` (owned from now on) into `sink` until EOF, then calls `sink.end()`. */
export function pump(fd: number, sink: ChunkSink): void {
  void pumpAsync(fd, sink);
}

async function pumpAsync(fd: number, sink: ChunkSink): Promise<void> {
  try {
    const stream = Bun.file(fd).stream();
    let reader: ReturnType<typeof stream.getReader>;
    try {
      reader = stream.getReader();
    } finally {
      closeFd(fd);
    }
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      try {
        sink.push(value);
      } catch {
        // A sink that throws loses that chunk only: the child must never write into a dead pipe.
      }
    }
  } catch {
    // EIO/EBADF and the like: the output is over; what was read has been delivered.
  }
  try {
    sink.end();
  } catch {
    // The reader is done either way.
  }
}

function closeFd(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed: nothing is leaking.
  }
}
