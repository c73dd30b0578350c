import { HttpStatus } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { iso } from '../registry/persistence/agent-rows';
import { POSITION_HEADER, REVISION_HEADER } from '../registry/registry-headers';
import { WatchSink } from './watcher';
import { AgentEventData } from './dto/agent-event.dto';
import { positionOf, StoredEvent } from '../registry/persistence/event-log';

/**
 * Takes the response over from the adapter (Fastify must be told, Express need not) and sends the stream's headers,
 * then a first comment naming where the stream starts: the events after `since`, which may be behind the registry's
 * `revision` (those in between come first). `X-Accel-Buffering: no` keeps nginx from holding events back.
 */
export function openStream(reply: unknown, since: number, revision: number, position: string): ServerResponse {
  const fastify = reply as { raw?: ServerResponse; hijack?: () => void };
  const response = fastify.raw ?? (reply as ServerResponse);
  fastify.hijack?.();
  response.writeHead(HttpStatus.OK, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
    [REVISION_HEADER]: String(revision),
    [POSITION_HEADER]: position,
  });
  const at = revision === 0 ? '' : ` (position ${position})`;
  const behind =
    since < revision ? `; the registry is at revision ${revision}${at}, the events up to it come first` : at;
  response.write(`: watching from revision ${since}${behind}\n\n`);
  return response;
}

/**
 * One client's stream. Its buffer is Node's own: the feed drops the client once it holds more than `bound` bytes.
 * It knows the last revision it wrote an `id:` for and the last the watch passed over (not selected by its filters),
 * so a keepalive can move the client's Last-Event-ID past events it was not sent.
 */
export class StreamSink implements WatchSink {
  /** The last revision it wrote an `id:` for, and the last the watch passed over with its position. */
  private lastId: number;
  private passedId: number;
  private passedPosition = '';

  constructor(
    private readonly response: ServerResponse,
    private readonly bound: number,
    since: number,
  ) {
    this.lastId = since;
    this.passedId = since;
  }

  send(event: StoredEvent, matches: boolean): boolean {
    const data: AgentEventData = {
      revision: event.revision,
      type: event.type,
      agent_id: event.agentId,
      at: iso(event.at),
      ...(event.agent ? { agent: event.agent } : {}),
      matches,
    };
    // What it had not taken before this event: one large event alone does not make a client slow.
    const behind = this.response.writableLength;
    this.response.write(`id: ${positionOf(event)}\nevent: ${event.type}\ndata: ${JSON.stringify(data)}\n\n`);
    this.lastId = event.revision;
    return behind <= this.bound;
  }

  passed(event: StoredEvent): void {
    this.passedId = event.revision;
    this.passedPosition = positionOf(event);
  }

  /**
   * The keepalive comment, after an `id:`-only message when the watch has passed over events since the last `id` it
   * wrote: a client resuming then starts after them, not from its last event (which may be older than
   * EVENTS_RETENTION for a watch whose filters rarely match). The id is one the watch has given or passed over, never
   * one ahead of it. A message with no `data` dispatches no event (EventSource, and every SSE parser that follows the
   * spec): it only sets the last event id.
   */
  keepalive(): void {
    if (this.response.writableEnded || this.response.destroyed) return;
    if (this.passedId > this.lastId) {
      this.lastId = this.passedId;
      this.response.write(`id: ${this.passedPosition}\n\n`);
    }
    this.response.write(': keepalive\n\n');
    if (this.response.writableLength > this.bound) this.response.destroy();
  }

  drained(): Promise<void> {
    // 'drain' follows only a write that was refused; until then there is nothing to wait for.
    if (!this.response.writableNeedDrain || this.response.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.response.off('drain', done);
        this.response.off('close', done);
        resolve();
      };
      this.response.once('drain', done);
      this.response.once('close', done);
    });
  }

  end(): void {
    // A client that is far behind gets nothing more; one that is not gets its last events before the end.
    if (this.response.writableLength > this.bound) this.response.destroy();
    else this.response.end();
  }
}
