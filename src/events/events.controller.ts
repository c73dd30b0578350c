import { Controller, Get, Headers, Inject, Query, Res } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { ApiExtraModels, ApiHeader, ApiOkResponse, ApiOperation, ApiTags, getSchemaPath } from '@nestjs/swagger';
import { Access } from '../auth/access.decorator';
import { Principal } from '../auth/auth.guard';
import { Caller } from '../auth/caller.decorator';
import { ApiProblemResponse } from '../common/api-problem-response.decorator';
import { RequestValidationException } from '../common/request-validation.pipe';
import { RetryLaterException } from '../common/retry-later.exception';
import { APP_CONFIG } from '../config/environment';
import { EventsSection } from './events.config';
import { DATABASE_UNAVAILABLE } from '../database/database-unavailable';
import { agentFilterOf } from '../registry/dto/agent-filter-query.dto';
import { POSITION_HEADER, REVISION_HEADER } from '../registry/registry-headers';
import { ChangeFeed } from './change-feed';
import { AgentEventData, EXAMPLE_EVENT_AGENT } from './dto/agent-event.dto';
import { WatchQuery } from './dto/watch-query.dto';
import { parsePosition, Position } from '../registry/persistence/event-log';
import { openStream, StreamSink } from './sse-response';
import { WatchSlots } from './watch-slots';
import { WatchStarts } from './watch-start';

const EXAMPLE_EVENT: AgentEventData = {
  revision: 1043,
  type: 'registered',
  agent_id: 'planner-7',
  at: '2026-11-27T09:00:00.000Z',
  agent: EXAMPLE_EVENT_AGENT,
  matches: true,
};

/**
 * What a watch opened at revision 1042 receives: its opening comment, an event, a keepalive; then, its filters having
 * passed over revisions 1044 to 1050, their last `id` with the next keepalive.
 */
const EXAMPLE_STREAM =
  ': watching from revision 1042 (position 1042.9f3ab2c1)\n\n' +
  `id: ${EXAMPLE_EVENT.revision}.5be0c2d7\nevent: ${EXAMPLE_EVENT.type}\ndata: ${JSON.stringify(EXAMPLE_EVENT)}\n\n` +
  ': keepalive\n\n' +
  'id: 1050.e71a04b6\n\n' +
  ': keepalive\n\n';

@ApiTags('events')
@ApiExtraModels(AgentEventData)
@Controller('events')
export class EventsController {
  constructor(
    private readonly feed: ChangeFeed,
    private readonly slots: WatchSlots,
    private readonly starts: WatchStarts,
    @Inject(APP_CONFIG) private readonly config: EventsSection,
  ) {}

  /**
   * A Server-Sent Events stream of the registry's changes, in revision order, across every replica. Each event has
   * `id: <position>` (`<revision>.<fingerprint>`: the fingerprint tells the event from another that a restored or
   * failed-over database records at the same revision), `event: <type>` and a JSON `data` (AgentEventData). The filters select the agents whose
   * events are sent: an agent's events are sent while it matches, and once more when it stops matching
   * (`matches: false`). Resume after a dropped connection with `Last-Event-ID` (EventSource sends it by itself) or
   * `since`: nothing is skipped, nothing repeated. Events are kept for EVENTS_RETENTION: resuming from an older
   * revision is a 410, and the client lists again; so is resuming from a position whose event the log no longer holds
   * as it was (the database was restored from a backup, or failed over to a replica that lagged), so a client never
   * takes another history's events for the ones it missed. A plain revision (`since`, Last-Event-ID) is accepted
   * unchecked, for clients from before positions. A comment line every EVENTS_KEEPALIVE_SECONDS (15) keeps the
   * connection alive; when the filters passed over events since the last `id` sent, a message with only
   * `id: <position>` comes before it, so a client resumes after them. A client that falls more than
   * EVENTS_CLIENT_BUFFER behind is disconnected and resumes; so is one on a replica that could not read the log for
   * longer than EVENTS_RETENTION, and it hears 410. Each replica serves at most WATCH_STREAMS_PER_KEY (100) streams
   * of one key and WATCH_STREAMS_MAX (1000) in all.
   */
  @ApiOperation({ operationId: 'watchEvents', summary: 'Watch the registry: a resumable stream of changes (SSE)' })
  @Get()
  @Access('read')
  @ApiHeader({
    name: 'Last-Event-ID',
    required: false,
    description:
      'The `id` of the last event received, `<revision>.<fingerprint>`: the stream resumes after it, or answers 410 ' +
      'if the log no longer holds that event as it was. A plain revision is accepted, unchecked. Takes precedence ' +
      'over `since`.',
    schema: { type: 'string', example: '1042.9f3ab2c1' },
  })
  @ApiOkResponse({
    description:
      'An endless `text/event-stream`. Each event: `id: <revision>.<fingerprint>` (its position), `event: registered|updated|deregistered|expired`, ' +
      '`data: <AgentEventData as JSON>`, then a blank line. Lines starting with `:` are comments (keepalives). A ' +
      'message with only `id: <position>` (no `data`) is progress, not an event: the filters passed over the events ' +
      'up to it; it sets the Last-Event-ID to resume from (EventSource does so by itself) and dispatches nothing. It ' +
      'comes with a keepalive, and only when the filters passed over events since the last `id` sent. The stream ' +
      'ends when its client falls behind, or its replica could not read the events it still needed: resume with ' +
      "`Last-Event-ID`. The schema below is each event's `data`. A watch opened at revision 1042 reads, for " +
      'example:\n\n' +
      `\`\`\`\n${EXAMPLE_STREAM}\`\`\``,
    content: {
      // OpenAPI 3.0 cannot describe a stream's items: the schema, as is usual for SSE, is that of each event's data.
      'text/event-stream': { schema: { $ref: getSchemaPath(AgentEventData) }, example: EXAMPLE_EVENT },
    },
    headers: {
      [REVISION_HEADER]: {
        description: 'The registry revision when the stream started.',
        schema: { type: 'integer', example: 1042 },
      },
      [POSITION_HEADER]: {
        description: 'The position of that revision, `<revision>.<fingerprint>` (`0` for an empty log).',
        schema: { type: 'string', example: '1042.9f3ab2c1' },
      },
    },
  })
  @ApiProblemResponse(400, 'An invalid filter, `since`, or `Last-Event-ID`.', {
    detail: 'Invalid request: label must be key:value',
    errors: [{ field: 'label', in: 'query', detail: 'label must be key:value' }],
  })
  @ApiProblemResponse(
    410,
    'The events after the requested revision are no longer kept (EVENTS_RETENTION), or the revision is not one this ' +
      "registry has reached, or the position's event is not the one the log holds at that revision (the log was " +
      'replaced: a restore from a backup, a failover to a replica that lagged): list the agents again (`GET /agents`) ' +
      'and watch from its `X-Registry-Position`.',
    {
      detail:
        'Events after revision 17 are no longer kept (the oldest kept is revision 912): list the agents again and watch from the X-Registry-Position of that list.',
    },
  )
  @ApiProblemResponse(
    429,
    'This key already has WATCH_STREAMS_PER_KEY streams open on this replica (admin keys: no per-key limit), or the ' +
      'replica serves WATCH_STREAMS_MAX streams in all: the detail names which. No `Retry-After`: a slot frees when ' +
      'a stream closes.',
    {
      detail:
        'Key dashboard has 100 event streams open on this replica, its WATCH_STREAMS_PER_KEY: close one first (one stream with filters, or none, can watch many agents).',
    },
  )
  @ApiProblemResponse(
    503,
    'The database cannot be reached (`Retry-After: 5`), or the registry is shutting down (`Retry-After: 1`).',
    { detail: DATABASE_UNAVAILABLE },
  )
  async watch(
    @Query() query: WatchQuery,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: unknown,
    @Caller() caller?: Principal,
  ): Promise<void> {
    if (this.feed.isClosed) throw new RetryLaterException('The registry is shutting down; retry shortly.', 1);
    const requested = lastEventId === undefined ? sinceOf(query.since) : parseLastEventId(lastEventId);
    const { since, revision, position } = await this.starts.after(requested);
    // Taken after the last await before the stream opens, and freed when it closes, however it closes.
    const release = this.slots.take(caller);
    let response: ServerResponse;
    try {
      response = openStream(reply, since, revision, position);
    } catch (error) {
      release();
      throw error;
    }
    // HEAD: the stream's headers, and no stream (it would send nothing, and hold the connection open for ever).
    if (response.req?.method === 'HEAD') {
      release();
      response.end();
      return;
    }
    // A client that hung up while the revision was read: its 'close' has been and gone.
    if (response.destroyed || !response.socket || response.socket.destroyed) {
      release();
      return;
    }
    const sink = new StreamSink(response, this.config.eventsClientBufferBytes, since);
    const keepalive = setInterval(() => sink.keepalive(), this.config.eventsKeepaliveMs);
    response.on('close', () => {
      clearInterval(keepalive);
      release();
      this.feed.unwatch(sink);
    });
    await this.feed.watch(since, agentFilterOf(query), sink);
  }
}

function sinceOf(value: string | undefined): Position | undefined {
  return value === undefined ? undefined : parsePosition(value);
}

/** Last-Event-ID as a position, or a 400 naming it. */
function parseLastEventId(value: string): Position {
  const position = parsePosition(value);
  if (position === undefined) {
    const detail =
      'Last-Event-ID must be the id of an event: <revision>.<fingerprint>, or a revision (an integer of 0 or more)';
    throw new RequestValidationException([{ field: 'Last-Event-ID', in: 'header', detail }]);
  }
  return position;
}
