/**
 * The one order in which every statement locks rows of agent_record on PostgreSQL: by agent_id. Heartbeat batches,
 * registration batches, the cleanup's deletes and the restart grace's extensions all take their rows this way, so
 * two of them, in one replica or in several, cannot each hold a row the other waits for.
 *
 * `ids` is SQL for a set of agent ids: a list of bound values, or a subquery that picks them (through whatever index
 * suits it, with a limit: only the rows picked are sorted, never every row that matches). The result is a subquery
 * of the same ids, locked in agent_id order before the statement around it touches any of them. A row that another
 * statement changed meanwhile is locked as it is now; the statement around it should re-check its condition on the
 * row, as `UPDATE … WHERE` and `DELETE … WHERE` do.
 */
export function lockedInOrder(ids: string): string {
  return `(select agent_id from agent_record where agent_id in ${ids} order by agent_id for update)`;
}

/**
 * A condition on agent_record: its agent_id is among the ids a subquery `picked` (with a limit) picks, the rows
 * locked in agent_id order (as lockedInOrder). Each set is an array computed once, so PostgreSQL reaches the rows
 * through the primary key: with `IN (subquery)` its planner joined the pick against a scan of the whole table once
 * most rows matched, and a chunk of 2,000 of 200,000 lapsed leases ran past a 100 ms statement timeout.
 */
export function pickedInOrder(picked: string): string {
  const ids = `select agent_id from agent_record where agent_id = any(array${picked}) order by agent_id for update`;
  return `agent_id = any(array(${ids}))`;
}
