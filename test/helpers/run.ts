// Running a command to completion and keeping what it printed, for tests that drive binaries and
// scripts the way a user's shell does.

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Waits for a process spawned with piped stdout and stderr, reading both to the end. */
export async function collect(proc: {
  stdout: ReadableStream<Uint8Array>;
  stderr: ReadableStream<Uint8Array>;
  exited: Promise<number>;
}): Promise<RunResult> {
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

/** Runs argv with no stdin. */
export function run(argv: string[]): Promise<RunResult> {
  return collect(Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" }));
}

/** Runs argv synchronously; env defaults to this process's. */
export function runSync(
  argv: string[],
  opts: { cwd?: string; env?: Record<string, string | undefined> } = {},
): RunResult {
  const p = Bun.spawnSync(argv, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: p.exitCode, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}
