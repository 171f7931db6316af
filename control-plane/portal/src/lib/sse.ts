/**
 * A Server-Sent Events parser, as the HTML standard describes it, for streams
 * read with fetch (an `EventSource` cannot send the bearer header). Chunks may
 * split lines, even a CR LF pair, anywhere; `data:` lines join with "\n";
 * comment lines (`: keep-alive`) are heartbeats; the last `id:` seen is kept
 * for resuming with `Last-Event-ID`.
 */

export interface SseMessage {
  /** The `event:` field; "message" when absent. */
  event: string;
  data: string;
  /** The last event ID in force when the message was dispatched (may be ""). */
  id: string;
}

export interface SseHandlers {
  onMessage: (message: SseMessage) => void;
  /** Any comment line, heartbeats included (the text after the colon, without one leading space). */
  onComment?: (text: string) => void;
  /** A `retry:` field: the reconnection delay the server asks for, in milliseconds. */
  onRetry?: (ms: number) => void;
}

export class SseParser {
  /** The last event ID seen (`id:`), to send as `Last-Event-ID` on reconnect. */
  lastEventId = "";
  private buffer = "";
  /** A chunk ended with CR: a following LF belongs to the same line break. */
  private pendingCr = false;
  private data: string[] = [];
  private event = "";
  private hasData = false;
  /** A byte order mark may open the stream only. */
  private started = false;

  constructor(private readonly handlers: SseHandlers) {}

  /** Feeds decoded text; dispatches every message completed by it. */
  push(chunk: string): void {
    let text = chunk;
    if (this.pendingCr) {
      this.pendingCr = false;
      if (text.startsWith("\n")) text = text.slice(1);
    }
    if (this.buffer === "" && text.startsWith("\uFEFF") && !this.started) text = text.slice(1);
    this.started = true;
    this.buffer += text;
    let start = 0;
    for (;;) {
      const cr = this.buffer.indexOf("\r", start);
      const lf = this.buffer.indexOf("\n", start);
      if (cr === -1 && lf === -1) break;
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        end = cr;
        if (cr + 1 === this.buffer.length) {
          // Maybe the first half of CR LF: the next chunk decides.
          this.pendingCr = true;
          next = cr + 1;
        } else {
          next = this.buffer[cr + 1] === "\n" ? cr + 2 : cr + 1;
        }
      } else {
        end = lf;
        next = lf + 1;
      }
      this.line(this.buffer.slice(start, end));
      start = next;
    }
    this.buffer = this.buffer.slice(start);
  }

  /** The stream ended: a message without its closing blank line is discarded, as the standard says. */
  end(): void {
    this.buffer = "";
    this.pendingCr = false;
    this.resetMessage();
  }

  private line(line: string): void {
    if (line === "") {
      this.dispatch();
      return;
    }
    if (line.startsWith(":")) {
      this.handlers.onComment?.(line.slice(1).replace(/^ /, ""));
      return;
    }
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "data":
        this.data.push(value);
        this.hasData = true;
        break;
      case "event":
        this.event = value;
        break;
      case "id":
        if (!value.includes("\0")) this.lastEventId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.handlers.onRetry?.(Number(value));
        break;
      default:
        // Unknown fields are ignored.
        break;
    }
  }

  private dispatch(): void {
    if (this.hasData) {
      this.handlers.onMessage({ event: this.event || "message", data: this.data.join("\n"), id: this.lastEventId });
    }
    this.resetMessage();
  }

  private resetMessage(): void {
    this.data = [];
    this.event = "";
    this.hasData = false;
  }
}

/**
 * Reads an event-stream body to its end, feeding `parser`. Resolves when the
 * server closes the stream; rejects when reading fails (a dropped connection,
 * or `signal` aborting).
 */
export async function readEventStream(
  body: ReadableStream<Uint8Array>,
  parser: SseParser,
  signal?: AbortSignal,
): Promise<void> {
  const reader = body.getReader();
  const cancel = () => void reader.cancel().catch(() => {});
  signal?.addEventListener("abort", cancel);
  const decoder = new TextDecoder("utf-8");
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      // `stream: true` keeps a multi-byte character split across chunks intact.
      parser.push(decoder.decode(value, { stream: true }));
    }
    const rest = decoder.decode();
    if (rest) parser.push(rest);
    if (signal?.aborted) throw new DOMException("aborted", "AbortError");
  } finally {
    signal?.removeEventListener("abort", cancel);
    parser.end();
    reader.releaseLock();
  }
}
