import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { Principal, PRINCIPAL } from './auth.guard';

/** The key a request came with, as AuthGuard found it; undefined without keys (protected mode, auth off). */
export const Caller = createParamDecorator(
  (_: unknown, context: ExecutionContext): Principal | undefined =>
    context.switchToHttp().getRequest<{ [PRINCIPAL]?: Principal }>()[PRINCIPAL],
);
