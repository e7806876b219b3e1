// A log follower that may fall behind: the one rule for JSON-RPC subscriptions (unix socket and
// WebSocket) and the legacy `log` follower. While the peer is congested, items are dropped and
// counted instead of queued, so a slow follower costs no memory; once it has caught up it is told
// how many it missed (upstream's `[-] zinit: N lines dropped`), before its next item or as soon as
// its output has emptied, whichever comes first.

interface LaggingFeed<T> {
  /** A new item: delivered, or counted as dropped while the peer is congested. */
  push(item: T): void;
  /** The peer's output emptied: report what was dropped, if anything. */
  catchUp(): void;
}

export function laggingFeed<T>(
  congested: () => boolean,
  deliver: (item: T) => void,
  lagNote: (dropped: number) => T,
): LaggingFeed<T> {
  let dropped = 0;
  const catchUp = () => {
    if (dropped === 0 || congested()) return;
    const note = lagNote(dropped);
    dropped = 0;
    deliver(note);
  };
  return {
    push(item) {
      if (congested()) {
        dropped++;
        return;
      }
      catchUp();
      deliver(item);
    },
    catchUp,
  };
}

/** Upstream's line for a follower that fell behind (its broadcast channel lagged). */
export const lagLine = (dropped: number) => `[-] zinit: ${dropped} lines dropped`;
