import { applyDecorators, ExecutionContext, SetMetadata } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import { ApiBearerAuth, ApiSecurity } from '@nestjs/swagger';
import { ApiProblemResponse } from '../common/api-problem-response.decorator';
import type { OpenRoute } from './auth.config';
import { Role } from './api-keys';

/**
 * Who may call a route when keys are configured: `public` (anyone, even in protected mode); `probe` and `metrics`
 * (the health probes and /metrics: public while REGISTRY_OPEN_ROUTES lists `probes` or `metrics`, `read`
 * otherwise; the probes are listed by default, the metrics are not); `read` (any key); `write` (`agent` or `admin`
 * keys); `admin`. A route without @Access needs an admin key: a route added by an extension module is closed until
 * it says otherwise.
 */
export type AccessLevel = 'public' | 'probe' | 'metrics' | 'read' | 'write' | 'admin';

/** The levels REGISTRY_OPEN_ROUTES may open, and the name it opens each by. */
export const OPENED_BY = { probe: 'probes', metrics: 'metrics' } as const satisfies Partial<
  Record<AccessLevel, OpenRoute>
>;

export const ACCESS_LEVEL = 'agent-registry:access';

/** The roles that may call a route of each level. */
export const ROLES_FOR: Record<Exclude<AccessLevel, 'public' | keyof typeof OPENED_BY>, readonly Role[]> = {
  read: ['reader', 'agent', 'admin'],
  write: ['agent', 'admin'],
  admin: ['admin'],
};

export const API_KEY_SCHEME = 'api-key';

export const MISSING_KEY_DETAIL = 'A valid API key is required: send it as "Authorization: Bearer <key>".';

export const PROTECTED_MODE_DETAIL =
  'This registry is in protected mode: no API keys are configured, so it serves only clients on its own ' +
  'host. Configure REGISTRY_API_KEYS_FILE (or REGISTRY_AUTH=off to serve everyone).';

/** The access level of the route a request reached: its handler's, else its controller's, else `admin`. */
export function accessLevelOf(reflector: Reflector, context: ExecutionContext): AccessLevel {
  return (
    reflector.getAllAndOverride<AccessLevel | undefined>(ACCESS_LEVEL, [context.getHandler(), context.getClass()]) ??
    'admin'
  );
}

/** Sets a route's access level, and documents its security and its 401, 403 and 429 answers. */
export function Access(level: AccessLevel): MethodDecorator & ClassDecorator {
  if (level === 'public') return applyDecorators(SetMetadata(ACCESS_LEVEL, level), ApiSecurity({}));
  if (level in OPENED_BY) {
    const closed = `Only while REGISTRY_OPEN_ROUTES leaves out \`${OPENED_BY[level as keyof typeof OPENED_BY]}\`: `;
    return applyDecorators(
      SetMetadata(ACCESS_LEVEL, level),
      // `{}`: no key needed while the route is open; or either scheme.
      ApiSecurity({}),
      ApiBearerAuth(),
      ApiSecurity(API_KEY_SCHEME),
      missingKeyResponse(`${closed}no API key, or one the registry does not know.`),
      ApiProblemResponse(403, `${closed}in protected mode (no keys configured), the client is not on this host.`, {
        detail: PROTECTED_MODE_DETAIL,
      }),
      tooManyFailuresResponse(closed),
    );
  }
  const roles = ROLES_FOR[level as keyof typeof ROLES_FOR];
  return applyDecorators(
    SetMetadata(ACCESS_LEVEL, level),
    ApiBearerAuth(),
    ApiSecurity(API_KEY_SCHEME),
    missingKeyResponse('No API key, or one the registry does not know (when keys are configured).'),
    ApiProblemResponse(
      403,
      `The key's role may not do this (${roles.join(' or ')} needed)` +
        (level === 'write' ? ', or the agent belongs to another key (an admin key may write any agent)' : '') +
        '; or, in protected mode (no keys configured), the client is not on this host.',
      { detail: `This needs the ${roles.join(' or ')} role.` },
    ),
    ApiProblemResponse(
      429,
      'More requests from this key (from this client address, without keys) than RATE_LIMIT allows; for a ' +
        'heartbeat, more heartbeats of this agent from this key (from this client address, without keys) than ' +
        'HEARTBEAT_LIMIT allows; or, when keys are configured, a request without a known key from a client address ' +
        'with more failed authentications (401) than AUTH_FAILURE_LIMIT allows (a known key is still served). ' +
        'Retry after `Retry-After` seconds.',
      { detail: 'Too many requests: at most 10000 in a second (RATE_LIMIT). Retry after Retry-After seconds.' },
      RETRY_AFTER,
    ),
  );
}

const RETRY_AFTER = {
  'Retry-After': {
    description: 'Seconds until the limit allows this request again.',
    schema: { type: 'integer', example: 1 },
  },
};

/** The 429 of an open route while it is closed: only AUTH_FAILURE_LIMIT applies to it. */
function tooManyFailuresResponse(closed: string): MethodDecorator & ClassDecorator {
  return ApiProblemResponse(
    429,
    `${closed}a request without a known key from a client address with more failed authentications (401) than ` +
      'AUTH_FAILURE_LIMIT allows (a known key is still served). Retry after `Retry-After` seconds.',
    {
      detail:
        'Too many failed authentications from this address: at most 20 in 60 seconds (AUTH_FAILURE_LIMIT). ' +
        'Retry after Retry-After seconds.',
    },
    RETRY_AFTER,
  );
}

function missingKeyResponse(when: string): MethodDecorator & ClassDecorator {
  return ApiProblemResponse(
    401,
    `${when} \`WWW-Authenticate: Bearer\`.`,
    { detail: MISSING_KEY_DETAIL },
    {
      'WWW-Authenticate': {
        description: 'The scheme to authenticate with.',
        schema: { type: 'string', example: 'Bearer' },
      },
    },
  );
}
