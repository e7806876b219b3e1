import { lineSink } from "../../src/log/lines.ts";
import { pipe } from "../../src/sys/pipe.ts";
import { pump } from "../../src/sys/stream.ts";

/** A pipe from src/sys/pipe.ts, or the test fails with the error that prevented it. */
export function openPipe(): { read: number; write: number } {
  const p = pipe();
  if (!p.ok) throw new Error(p.error);
  return p;
}

/** Reads `fd` into lines as the daemon does: sys/stream.ts's pump into log/lines.ts's splitter. */
export function readLines(
  fd: number,
  onLine: (line: string) => void,
  onEnd: () => void,
  maxLine?: number,
): void {
  pump(fd, lineSink(onLine, onEnd, maxLine));
}
