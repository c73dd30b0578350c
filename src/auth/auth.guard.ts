import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import { ChallengeException } from '../common/challenge.exception';
import { Clock } from '../common/clock';
import { clientAddress, contextOf, rawRequest } from '../common/request-context';
import { APP_CONFIG } from '../config/environment';
import { AuthConfig, AuthSection } from './auth.config';
import { findKey, Role } from './api-keys';
import { authFailuresOf, countAuthFailuresOn } from './auth-failures';
import {
  accessLevelOf,
  AccessLevel,
  MISSING_KEY_DETAIL,
  OPENED_BY,
  PROTECTED_MODE_DETAIL,
  ROLES_FOR,
} from './access.decorator';

/** Who made a request: the key's name and role, or, without keys (protected mode, auth off), nobody in particular. */
export interface Principal {
  name: string;
  role: Role;
}

/** The principal of a request that passed the guard. */
export const PRINCIPAL = Symbol('agent-registry:principal');

/** A 401 the problem-details filter answers with `WWW-Authenticate: Bearer`. */
export class AuthenticationRequiredException extends ChallengeException {
  constructor() {
    super(MISSING_KEY_DETAIL, 'Bearer');
  }
}

/** Nest's request: Node's own on Express, Fastify's wrapper of it. */
type RequestLike = (IncomingMessage | { raw: IncomingMessage }) & { [PRINCIPAL]?: Principal };

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

/**
 * Every route's gate (APP_GUARD). The client's address is the socket's, never a header: a proxy in front makes every
 * client look like the proxy, so protected mode is for a registry nobody else can reach; put keys on one that can be.
 */
@Injectable()
export class AuthGuard implements CanActivate, OnApplicationBootstrap {
  private readonly logger = new Logger('Auth');

  constructor(
    private readonly reflector: Reflector,
    @Inject(APP_CONFIG) private readonly config: AuthSection,
    clock: Clock,
  ) {
    countAuthFailuresOn(config.auth, () => clock.now().getTime());
  }

  onApplicationBootstrap(): void {
    const { mode, keys } = this.config.auth;
    if (mode === 'off') {
      this.logger.warn(
        'REGISTRY_AUTH=off: ANYONE WHO CAN REACH THIS REGISTRY CAN REGISTER, OVERWRITE AND DELETE EVERY AGENT. ' +
          'Configure REGISTRY_API_KEYS_FILE for any registry reachable from another host.',
      );
    } else if (mode === 'protected') {
      this.logger.warn(
        'Protected mode: no API keys are configured (REGISTRY_API_KEYS_FILE), so only clients on this host are ' +
          'served; others get 403. Configure keys, or set REGISTRY_AUTH=off to serve everyone without one.',
      );
    } else {
      this.logger.log(`API keys: ${keys.map((key) => `${key.name} (${key.role})`).join(', ')}`);
    }
  }

  canActivate(context: ExecutionContext): boolean {
    const level = accessLevelOf(this.reflector, context);
    const request = context.switchToHttp().getRequest<RequestLike>();
    const principal = authorize(this.config.auth, rawRequest(request), level);
    if (principal) request[PRINCIPAL] = principal;
    return true;
  }
}

/**
 * Whether a request may call a route of `level` under `auth`: resolves with the key's principal (undefined when no
 * key was needed), or throws the 401 or 403 to answer. The AuthGuard's decision, also used below Nest (the docs).
 */
export function authorize(auth: AuthConfig, raw: IncomingMessage, level: AccessLevel): Principal | undefined {
  const { mode } = auth;
  const needed = level in OPENED_BY ? openedOrRead(auth, level as keyof typeof OPENED_BY) : level;
  if (needed === 'public' || mode === 'off') return undefined;
  if (mode === 'protected') {
    // Not counted as a failed authentication: the address alone decides, there is nothing to guess.
    if (LOOPBACK.test(clientAddress(raw) ?? '')) return undefined;
    throw new ForbiddenException(PROTECTED_MODE_DETAIL);
  }
  const secret = presentedSecret(raw.headers);
  const key = secret === undefined ? undefined : findKey(auth.keys, secret);
  if (!key) {
    // An address past AUTH_FAILURE_LIMIT cannot keep guessing until its window ends. A known key is served all the
    // same: behind a proxy every client shares its address, and wrong keys from anyone must not stop the fleets.
    const failures = authFailuresOf(auth);
    failures?.admit(raw);
    failures?.fail(raw);
    throw new AuthenticationRequiredException();
  }
  // Named in the request's log line even when its role may not do this.
  const requestContext = contextOf(raw);
  if (requestContext) requestContext.keyName = key.name;
  const roles = ROLES_FOR[needed as keyof typeof ROLES_FOR];
  if (!roles.includes(key.role)) throw new ForbiddenException(`This needs the ${roles.join(' or ')} role.`);
  return { name: key.name, role: key.role };
}

/** A route REGISTRY_OPEN_ROUTES may open: public while it is listed, `read` otherwise. */
function openedOrRead(auth: AuthConfig, level: keyof typeof OPENED_BY): 'public' | 'read' {
  return auth.openRoutes.includes(OPENED_BY[level]) ? 'public' : 'read';
}

/** The secret from `Authorization: Bearer <secret>` or, failing that, `X-API-Key`. */
function presentedSecret(headers: IncomingMessage['headers']): string | undefined {
  const authorization = headers.authorization;
  if (typeof authorization === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match) return match[1];
  }
  const apiKey = headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey !== '' ? apiKey : undefined;
}
