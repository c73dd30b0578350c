import { get, IncomingHttpHeaders, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { EventStreamParser, revisionOf } from '@agent-registry/client';

/** The revision of an event's `id` (a position: `<revision>.<fingerprint>`). */
export function revisionIn(id: string): string {
  return String(revisionOf(id));
}

/** A position as the registry writes it: a revision and the fingerprint of its event. */
export const POSITION = /^\d+\.[0-9a-f]{8}$/;

/** One Server-Sent Event as received. */
export interface ReceivedEvent {
  id: string;
  event: string;
  data: {
    revision: number;
    type: string;
    agent_id: string;
    at: string;
    agent?: { agent_id: string; [field: string]: unknown };
    matches: boolean;
  };
}

/** A `GET /events` connection read the way a client reads it: events, comment lines, and how it ended. */
export interface EventStream {
  status: number;
  headers: IncomingHttpHeaders;
  /** The problem details body, when the status is not 200. */
  body?: { detail?: string; [field: string]: unknown };
  events: ReceivedEvent[];
  comments: string[];
  /** The `id` of each message that had no `data` (progress: it moves the Last-Event-ID, and is no event). */
  progress: string[];
  /** The Last-Event-ID a client resuming now would send, as EventSource keeps it: the last `id` received. */
  lastEventId: string;
  ended: Promise<void>;
  /** Resolves once `count` events have arrived (or rejects after `timeoutMs`). */
  waitForEvents(count: number, timeoutMs?: number): Promise<ReceivedEvent[]>;
  /** Resolves once a comment matching `pattern` has arrived. */
  waitForComment(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves once an id-only message at this revision has arrived. */
  waitForProgress(id: string, timeoutMs?: number): Promise<string>;
  /** Stops reading, without closing: the server's writes pile up in the socket (a slow client). */
  pause(): void;
  /** Reads again (a paused client notices that the server hung up only when it reads). */
  resume(): void;
  close(): void;
}

/** The base URL of a server, listening on an ephemeral loopback port if it was not yet. */
export async function listeningUrl(server: Server): Promise<string> {
  if (!server.listening) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Opens an event stream: `target` is a server (the test app's) or a base URL (a server process). */
export async function openEventStream(
  target: Server | string,
  path: string,
  headers: Record<string, string> = {},
): Promise<EventStream> {
  const base = typeof target === 'string' ? target : await listeningUrl(target);
  const response = await new Promise<IncomingMessage>((resolve, reject) =>
    // A connection of its own: a kept-alive socket may be one the server has just cut off.
    get(`${base}${path}`, { agent: false, headers: { Accept: 'text/event-stream', ...headers } }, resolve).on(
      'error',
      reject,
    ),
  );
  const events: ReceivedEvent[] = [];
  const comments: string[] = [];
  const progress: string[] = [];
  const listeners = new Set<() => void>();
  const ended = new Promise<void>((resolve) => {
    response.on('end', resolve);
    response.on('close', resolve);
    response.on('error', () => resolve());
  });
  const stream: EventStream = {
    status: response.statusCode ?? 0,
    headers: response.headers,
    events,
    comments,
    progress,
    lastEventId: '',
    ended,
    waitForEvents: (count, timeoutMs = 10_000) =>
      until(() => (events.length >= count ? events.slice(0, count) : undefined), timeoutMs, `${count} events`),
    waitForComment: (pattern, timeoutMs = 10_000) =>
      until(() => comments.find((comment) => pattern.test(comment)), timeoutMs, `a comment ${pattern}`),
    waitForProgress: (id, timeoutMs = 10_000) =>
      until(() => progress.find((received) => revisionIn(received) === id), timeoutMs, `progress to ${id}`),
    pause: () => response.pause(),
    resume: () => response.resume(),
    close: () => response.destroy(),
  };

  function until<T>(found: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = found();
        if (value === undefined) return;
        clearTimeout(timer);
        listeners.delete(check);
        resolve(value);
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(
          new Error(`timed out waiting for ${what}; got ${events.length} events: ${events.map((e) => e.id).join()}`),
        );
      }, timeoutMs);
      listeners.add(check);
      check();
      void ended.then(() => {
        if (!listeners.has(check)) return;
        check();
      });
    });
  }

  if (stream.status !== 200) {
    const chunks: Buffer[] = [];
    for await (const chunk of response) chunks.push(chunk as Buffer);
    stream.body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as EventStream['body'];
    return stream;
  }
  response.setEncoding('utf8');
  const parser = new EventStreamParser();
  response.on('data', (chunk: string) => {
    for (const { id, event, data, comments: lines } of parser.push(chunk)) {
      comments.push(...lines);
      if (id !== undefined) stream.lastEventId = id;
      if (data !== undefined) events.push({ id: id!, event, data: JSON.parse(data) as ReceivedEvent['data'] });
      else if (id !== undefined) progress.push(id);
    }
    for (const listener of [...listeners]) listener();
  });
  return stream;
}
