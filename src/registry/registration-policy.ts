import { HttpException, HttpStatus, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { validate } from 'class-validator';
import { Principal } from '../auth/auth.guard';
import { RegisterAgentRequest } from './dto/register-agent.dto';

/** What a registration policy is told besides the registration. */
export interface RegistrationContext {
  /** The key that registers (its name and role); undefined without keys (protected mode, auth off). */
  caller: Principal | undefined;
}

/**
 * Reviews every registration (`POST /agents/register`, first or again; never a heartbeat) before it is written:
 * answers it unchanged (nothing, or the registration it was given), amended (a new registration, e.g. with a default
 * label), or refuses it by throwing (RegistrationRefusedException, or any Nest HttpException: the client gets its
 * status and message as problem details, and nothing is written). An amended registration must still be valid (the
 * rules of the request body); an invalid one is the policy's bug, answered 500 and logged.
 *
 * Mark the class `@RegistrationPolicy({ order })` and provide it in a module the app imports; every such provider
 * is found at boot (Nest's DiscoveryService).
 */
export interface RegistrationPolicy {
  review(
    registration: RegisterAgentRequest,
    context: RegistrationContext,
  ): RegisterAgentRequest | void | Promise<RegisterAgentRequest | void>;
}

/** Where a policy runs: lower `order` first (default 0); equal orders in the order Nest found them. */
export interface RegistrationPolicyOptions {
  order?: number;
}

/** Marks a provider as a registration policy (see RegistrationPolicy). */
export const RegistrationPolicy = DiscoveryService.createDecorator<RegistrationPolicyOptions>();

/** A registration a policy refuses: 422 by default, with `detail` saying why. */
export class RegistrationRefusedException extends HttpException {
  constructor(detail: string, status: number = HttpStatus.UNPROCESSABLE_ENTITY) {
    super(detail, status);
  }
}

/** The registration policies of every module, in order; the registry runs them on each registration. */
@Injectable()
export class RegistrationPolicies implements OnModuleInit {
  private readonly logger = new Logger(RegistrationPolicies.name);
  private policies: { name: string; policy: RegistrationPolicy }[] = [];

  constructor(private readonly discovery: DiscoveryService) {}

  onModuleInit(): void {
    const found = new Map<unknown, { name: string; policy: RegistrationPolicy; order: number }>();
    for (const wrapper of this.discovery.getProviders({ metadataKey: RegistrationPolicy.KEY })) {
      const instance = wrapper.instance as RegistrationPolicy | undefined;
      if (!instance || found.has(instance)) continue;
      const { order = 0 } = this.discovery.getMetadataByDecorator(RegistrationPolicy, wrapper) ?? {};
      found.set(instance, { name: wrapper.name as string, policy: instance, order });
    }
    // Array.prototype.sort is stable: equal orders keep the order found.
    this.policies = [...found.values()].sort((a, b) => a.order - b.order);
  }

  /**
   * The registration as every policy left it, in order; throws the first refusal. Each policy reviews a copy of its
   * own: one that edits it in place, rather than returning a new registration, amends it the same way, and any
   * amendment is checked against the rules of the request body.
   */
  async review(registration: RegisterAgentRequest, caller: Principal | undefined): Promise<RegisterAgentRequest> {
    let reviewed = registration;
    for (const { name, policy } of this.policies) {
      const draft = copyOf(reviewed);
      const amended = copyOf((await policy.review(draft, { caller })) ?? draft);
      if (JSON.stringify(amended) === JSON.stringify(reviewed)) continue;
      const errors = await validate(amended);
      if (errors.length > 0) {
        this.logger.error(`Registration policy ${name} made an invalid registration: ${errors.join('; ')}`);
        throw new Error(`Registration policy ${name} made an invalid registration`);
      }
      reviewed = amended;
    }
    return reviewed;
  }
}

/** A deep copy of a registration, as the request DTO (what validation reads its rules from). */
function copyOf(registration: RegisterAgentRequest): RegisterAgentRequest {
  return Object.assign(new RegisterAgentRequest(), structuredClone({ ...registration }));
}
