/** The registry revision an answer reflects (see `GET /agents`). */
export const REVISION_HEADER = 'X-Registry-Revision';
/** That revision as a position in the event log (see Position in event-log.ts): where a watch resumes. */
export const POSITION_HEADER = 'X-Registry-Position';
