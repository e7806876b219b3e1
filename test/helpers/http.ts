// Raw HTTP/1.1 over TCP, for what fetch() will not send: a forged Host or Origin, a WebSocket
// upgrade read as plain bytes.

export interface RawReply {
  status: number;
  /** The whole response as received. */
  text: string;
  /** The response head, lower-cased. */
  headers: string;
  body: string;
}

/**
 * Sends `request` as it is to `address` (`host:port`, `[v6]:port`) and resolves once the server
 * closes the connection or, with `headOnly`, once the response head has arrived (a 101 keeps the
 * connection open); the connection is closed then.
 */
export async function sendHttp(
  address: string,
  request: string,
  headOnly = false,
): Promise<RawReply> {
  const at = address.lastIndexOf(":");
  let text = "";
  await new Promise<void>((resolve, reject) => {
    Bun.connect({
      hostname: address.slice(0, at).replace(/^\[|\]$/g, ""),
      port: Number(address.slice(at + 1)),
      socket: {
        open: (s) => void s.write(request),
        data(s, d) {
          text += d.toString();
          if (headOnly && text.includes("\r\n\r\n")) s.end();
        },
        close: () => resolve(),
        error: (_s, e) => reject(e),
      },
    }).catch(reject);
  });
  const split = text.indexOf("\r\n\r\n");
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]),
    text,
    headers: text.slice(0, split).toLowerCase(),
    body: text.slice(split + 4),
  };
}

/** A request of `head` (its request line and headers) and `body`, on a connection that closes. */
export const rawHttp = (address: string, head: string, body = ""): Promise<RawReply> =>
  sendHttp(
    address,
    `${head}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
