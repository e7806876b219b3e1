// What one API client (or all of them together) can make zinit hold: the numbers shared by the unix
// socket, HTTP and WebSocket, with their defaults. `zinit init` sets them from its flags; the
// README's limits table lists them with the same names.

export interface ApiLimits {
  /** Largest request frame, legacy command line, HTTP body or WebSocket message (bytes). */
  maxFrame: number;
  /** Most requests in one JSON-RPC batch. */
  maxBatch: number;
  /** Largest reply to one batch (bytes); past it the batch gets one error instead. */
  maxBatchReply: number;
  /**
   * Unread replies one connection may have queued (bytes); past it the peer is disconnected. A
   * single reply larger than this is still sent whole when nothing else is queued.
   */
  maxQueued: number;
  /** Requests of one connection being answered at once; the rest wait, unread. */
  maxInflight: number;
  /** How long queued output may wait with no byte read by the peer before it is disconnected. */
  writeTimeoutMs: number;
  /** How long an unfinished request frame may go without new bytes before the peer is dropped. */
  frameTimeoutMs: number;
  /** Bytes of unfinished request frames over all connections together. */
  maxUnfinished: number;
  /**
   * Connections open at once over the unix sockets and WebSockets together. Plain HTTP
   * connections are not counted: Bun closes them after 10 s without a request.
   */
  maxConnections: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_LIMITS: Readonly<ApiLimits> = {
  // reth-ipc's and jsonrpsee's default request size.
  maxFrame: 10 * MiB,
  maxBatch: 1024,
  // jsonrpsee's default response size.
  maxBatchReply: 10 * MiB,
  maxQueued: 16 * MiB,
  maxInflight: 64,
  writeTimeoutMs: 60_000,
  frameTimeoutMs: 30_000,
  maxUnfinished: 64 * MiB,
  maxConnections: 1024,
};

/**
 * A cap shared by every listener of a daemon: the bytes of unfinished frames (each reader takes
 * what it buffers and gives it back once the frame is complete or dropped), or open connections
 * (one each). `onFull` hears every refusal, to say so in zinit's log.
 */
export class Budget {
  private used = 0;

  constructor(
    readonly max: number,
    private readonly onFull: () => void = () => {},
  ) {}

  /** Reserves `amount`; false (and nothing reserved) when that would pass the cap. */
  take(amount: number): boolean {
    if (this.used + amount > this.max) {
      this.onFull();
      return false;
    }
    this.used += amount;
    return true;
  }

  release(amount: number): void {
    this.used = Math.max(0, this.used - amount);
  }

  get inUse(): number {
    return this.used;
  }
}
