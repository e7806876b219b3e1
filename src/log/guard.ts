// Bun's pipe reader allocates a fresh buffer for every read, and the engine's collector lets those
// pile up for tens of megabytes before it runs: under an output flood that garbage, not the ring,
// is what grows zinit's memory. So the log intake counts what it reads, and every CHECK_BYTES it
// compares the RSS with what it was after the last collection; past that plus SLACK (and the
// ring's budget), it collects now. A quiet zinit never checks; a flood costs at most one
// collection per CHECK_BYTES read.

/** How much log intake between two looks at the RSS. */
export const CHECK_BYTES = 8 * 1024 * 1024;
/** Growth over the post-collection RSS (beyond the ring's budget) that triggers a collection. */
export const SLACK = 16 * 1024 * 1024;

export class MemoryGuard {
  private read = 0;
  private base = -1;

  constructor(
    private readonly budget: number,
    private readonly rss: () => number = () => process.memoryUsage.rss(),
    private readonly collect: () => void = () => Bun.gc(true),
  ) {}

  /** `bytes` more were read from a service. */
  took(bytes: number): void {
    this.read += bytes;
    if (this.read < CHECK_BYTES) return;
    this.read = 0;
    if (this.base >= 0 && this.rss() <= this.base + this.budget + SLACK) return;
    this.collect();
    this.base = this.rss();
  }
}
