import { describe, expect, it } from "vitest";
import { SseParser, readEventStream } from "./sse";
import type { SseMessage } from "./sse";

function collect() {
  const messages: SseMessage[] = [];
  const comments: string[] = [];
  const retries: number[] = [];
  const parser = new SseParser({
    onMessage: (m) => messages.push(m),
    onComment: (c) => comments.push(c),
    onRetry: (ms) => retries.push(ms),
  });
  return { parser, messages, comments, retries };
}

const STREAM =
  ": keep-alive\n\n" +
  'id: evt_1\nevent: api_key.created\ndata: {"id":"evt_1","type":"api_key.created"}\n\n' +
  ": keep-alive\n" +
  "id: evt_2\r\nevent: task.failed\r\ndata: line one\r\ndata: line two\r\n\r\n" +
  "data:no space\rid:evt_3\r\r" +
  "retry: 2500\n" +
  "data\n\n";

describe("SseParser", () => {
  it("parses messages, multi-line data, comments, ids and retry", () => {
    const { parser, messages, comments, retries } = collect();
    parser.push(STREAM);
    expect(messages).toEqual([
      { id: "evt_1", event: "api_key.created", data: '{"id":"evt_1","type":"api_key.created"}' },
      { id: "evt_2", event: "task.failed", data: "line one\nline two" },
      { id: "evt_3", event: "message", data: "no space" },
      { id: "evt_3", event: "message", data: "" },
    ]);
    expect(comments).toEqual(["keep-alive", "keep-alive"]);
    expect(retries).toEqual([2500]);
    expect(parser.lastEventId).toBe("evt_3");
  });

  it("gives the same result however the stream is split into chunks", () => {
    const whole = collect();
    whole.parser.push(STREAM);
    // Every split into two chunks, and one character at a time.
    for (let cut = 0; cut <= STREAM.length; cut += 1) {
      const split = collect();
      split.parser.push(STREAM.slice(0, cut));
      split.parser.push(STREAM.slice(cut));
      expect(split.messages, `cut at ${cut}`).toEqual(whole.messages);
      expect(split.parser.lastEventId).toBe("evt_3");
    }
    const single = collect();
    for (const ch of STREAM) single.parser.push(ch);
    expect(single.messages).toEqual(whole.messages);
    expect(single.comments).toEqual(whole.comments);
  });

  it("treats a CR at a chunk's end followed by LF as one line break", () => {
    const { parser, messages } = collect();
    parser.push("data: a\r");
    parser.push("\n\r");
    parser.push("\ndata: b\n\n");
    expect(messages.map((m) => m.data)).toEqual(["a", "b"]);
  });

  it("keeps the last id across messages and ignores comments-only blocks and unknown fields", () => {
    const { parser, messages } = collect();
    parser.push("id: evt_9\n\n: ping\n\nfoo: bar\nevent: x\n\ndata: after\n\n");
    expect(messages).toEqual([{ id: "evt_9", event: "message", data: "after" }]);
    expect(parser.lastEventId).toBe("evt_9");
  });

  it("drops a message the stream ended before finishing", () => {
    const { parser, messages } = collect();
    parser.push("data: complete\n\ndata: partial");
    parser.end();
    parser.push("\n\n");
    expect(messages.map((m) => m.data)).toEqual(["complete"]);
  });
});

describe("readEventStream", () => {
  it("decodes UTF-8 split inside a character", async () => {
    const bytes = new TextEncoder().encode("id: evt_中\ndata: 你好\n\n");
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const b of bytes) controller.enqueue(new Uint8Array([b]));
        controller.close();
      },
    });
    const { parser, messages } = collect();
    await readEventStream(body, parser);
    expect(messages).toEqual([{ id: "evt_中", event: "message", data: "你好" }]);
  });

  it("stops when aborted", async () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("data: one\n\n"));
      },
    });
    const abort = new AbortController();
    const { parser, messages } = collect();
    const reading = readEventStream(body, parser, abort.signal);
    await new Promise((r) => setTimeout(r, 10));
    abort.abort();
    await expect(reading).rejects.toThrow();
    expect(messages.map((m) => m.data)).toEqual(["one"]);
  });
});
