import { PickType } from '@nestjs/swagger';
import { RegisterAgentRequest } from './register-agent.dto';

/** The `{agent_id}` path parameter, held to the same rule as at registration. */
export class AgentIdParams extends PickType(RegisterAgentRequest, ['agent_id'] as const) {}
