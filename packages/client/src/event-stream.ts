// The one reader of `text/event-stream` (GET /events) in the project: the client's watch, the registry's dashboard (it
// serves this module's ESM build to the browser as /dashboard/event-stream.js), the tests and the bench all use it.
// So it imports nothing, and uses only what browsers and Node both have.

/**
 * One message of the stream: the lines up to a blank line. The registry sends events (`id`, `event`, `data`),
 * progress (an `id` alone: the filters passed over the events up to it) and comments (`: keepalive`).
 */
export interface StreamMessage {
  /** The `id` field: a position, `<revision>.<fingerprint>` (or a bare revision, from an older registry). */
  id?: string;
  /** The `event` field (`message` when absent, as EventSource has it). */
  event: string;
  /** The `data` lines joined by `\n`; absent when the message has none (progress, a comment). */
  data?: string;
  /** The comment lines, without their `:` and the one space after it. */
  comments: string[];
}

/**
 * Parses a `text/event-stream` as it arrives, chunk by chunk, after the Server-Sent Events specification: lines end
 * with `\r\n`, `\n` or `\r`; a field's value starts after its `:` and one optional space; unknown fields are ignored.
 * Unlike EventSource it also hands over what EventSource keeps to itself: messages without data, and comments.
 */
export class EventStreamParser {
  private buffer = '';
  private message = emptyMessage();

  /** Reads a chunk of the stream's text; returns the messages it completed, in order. */
  push(chunk: string): StreamMessage[] {
    const messages: StreamMessage[] = [];
    this.buffer += chunk;
    // A \r at the end may be half of a \r\n: it waits for the next chunk, with the line not yet finished.
    const held = this.buffer.endsWith('\r') ? '\r' : '';
    const lines = this.buffer.slice(0, this.buffer.length - held.length).split(/\r\n|\r|\n/);
    this.buffer = lines.pop()! + held;
    for (const line of lines) {
      if (line === '') {
        const { message } = this;
        if (message.id !== undefined || message.data !== undefined || message.comments.length > 0) {
          messages.push(message);
        }
        this.message = emptyMessage();
      } else if (line.startsWith(':')) {
        this.message.comments.push(line.slice(1).replace(/^ /, ''));
      } else {
        this.field(line);
      }
    }
    return messages;
  }

  private field(line: string): void {
    const colon = line.indexOf(':');
    const name = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (name === 'data') this.message.data = this.message.data === undefined ? value : `${this.message.data}\n${value}`;
    else if (name === 'event') this.message.event = value;
    else if (name === 'id') this.message.id = value;
  }
}

/**
 * Reads a `text/event-stream` body (a fetch response's) to its end, message by message. Leaving the loop early (a
 * `break`, or a handler that threw) cancels the body, so the server drops the connection.
 */
export async function* readEventStream(body: ReadableStream<Uint8Array>): AsyncGenerator<StreamMessage, void> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new EventStreamParser();
  let ended = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        ended = true;
        return;
      }
      yield* parser.push(value);
    }
  } finally {
    if (!ended) await reader.cancel().catch(() => undefined);
  }
}

/** The revision of a position (`<revision>.<fingerprint>`, or a bare revision); NaN if it is neither. */
export function revisionOf(position: string): number {
  const revision = position.split('.')[0];
  return /^\d+$/.test(revision) ? Number(revision) : NaN;
}

function emptyMessage(): StreamMessage {
  return { event: 'message', comments: [] };
}
