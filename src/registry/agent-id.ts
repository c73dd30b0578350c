import { Param, PipeTransform } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import { RequestValidationException } from '../common/request-validation.pipe';

/** The agent_id rule, the same in a registration body and in a path. */
export const AGENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]*$/;
export const AGENT_ID_MAX_LENGTH = 255;
export const AGENT_ID_RULE =
  'agent_id must start with a letter or digit and contain only letters, digits and . _ : @ -';
export const AGENT_ID_DESCRIPTION =
  "The agent's stable, unique id: letters, digits and `._:@-`, starting with a letter or digit.";

/**
 * Checks `{agent_id}` with the rule's regular expression and length rather than a class-validator DTO, because the
 * heartbeat is the hot path. It answers what class-validator answers for the registration body's `agent_id`: the
 * same messages, in the same order.
 */
class AgentIdPipe implements PipeTransform<string, string> {
  transform(agentId: string): string {
    const errors: string[] = [];
    if (!AGENT_ID_PATTERN.test(agentId)) errors.push(AGENT_ID_RULE);
    if (agentId.length > AGENT_ID_MAX_LENGTH) {
      errors.push(`agent_id must be shorter than or equal to ${AGENT_ID_MAX_LENGTH} characters`);
    }
    if (errors.length > 0) {
      throw new RequestValidationException(errors.map((detail) => ({ field: 'agent_id', in: 'path', detail })));
    }
    return agentId;
  }
}

/** The route's `{agent_id}`, held to the agent_id rule: 400 naming it (in: path) otherwise. */
export const AgentIdParam = (): ParameterDecorator => Param('agent_id', new AgentIdPipe());

/** The OpenAPI description of `{agent_id}`, for a route that reads it with AgentIdParam. */
export const ApiAgentIdParam = (): MethodDecorator =>
  ApiParam({
    name: 'agent_id',
    description: AGENT_ID_DESCRIPTION,
    schema: {
      minLength: 1,
      maxLength: AGENT_ID_MAX_LENGTH,
      pattern: AGENT_ID_PATTERN.source,
      example: 'planner-7',
      type: 'string',
    },
  });
