// stdout/stderr for the CLI. Bun's process.exit() drops whatever a slow pipe has not taken yet,
// so writes are tracked and `flushOutput` waits for `drain` before the process exits.

const streams = [process.stdout, process.stderr];
const backedUp = new Set<NodeJS.WriteStream>();
let hooked = false;

function write(stream: NodeJS.WriteStream, text: string): void {
  // Hooked on first use, not at import: the daemon shares main.ts and must never exit this way.
  if (!hooked) {
    hooked = true;
    for (const s of streams) {
      s.on("drain", () => backedUp.delete(s));
      // The reader went away (`zinit log | head`): nothing left to say, and nobody to say it to.
      s.on("error", () => process.exit(0));
    }
  }
  if (!stream.write(text)) backedUp.add(stream);
}

export function print(text: string): void {
  write(process.stdout, text);
}

export function printStderr(text: string): void {
  write(process.stderr, text);
}

/** One `zinit: …` line on stderr. */
export function printError(message: string): void {
  write(process.stderr, `zinit: ${message}\n`);
}

export function printWarning(message: string): void {
  write(process.stderr, `zinit: WARNING: ${message}\n`);
}

async function flushOutput(): Promise<void> {
  for (const stream of streams) {
    if (backedUp.has(stream)) await new Promise((resolve) => stream.once("drain", resolve));
  }
}

/** Exits with `code` once everything written so far has reached the pipes. */
export async function exit(code: number): Promise<never> {
  await flushOutput();
  process.exit(code);
}
