/** Confirms a deregistration. */
export class DeleteAgentResponse {
  /**
   * Always `deleted`.
   * @example deleted
   */
  status!: 'deleted';

  /**
   * The id of the agent that was removed.
   * @example planner-7
   */
  agent_id!: string;
}
