import type { EntityManager } from '@mikro-orm/postgresql';
import type { VendorPrincipal } from '../context.js';
import { RuleViolationError } from '../errors.js';
import { findOwned } from '../scoping.js';
import { Membership, Organization, User, type Role } from './entities.js';

/** Members of the caller's organization. */
export class OrganizationService {
  constructor(
    private readonly em: EntityManager,
    private readonly actor: VendorPrincipal,
  ) {}

  organization(): Promise<Organization> {
    return this.em.findOneOrFail(Organization, { id: this.actor.organizationId });
  }

  members(): Promise<Membership[]> {
    return this.em.find(Membership, { organization: this.actor.organizationId }, { populate: ['user'], orderBy: { createdAt: 'asc' } });
  }

  async setMemberRole(membershipId: string, role: Role): Promise<Membership> {
    const membership = await findOwned(this.em, Membership, 'member', membershipId, { organization: this.actor.organizationId }, ['user']);
    if (membership.user.id === this.actor.userId && role !== 'admin') {
      throw new RuleViolationError('self_demotion', 'you cannot lower your own role; ask another admin');
    }
    membership.role = role;
    await this.em.flush();
    return membership;
  }
}

/**
 * A new organization with an admin user. Used by the first-run bootstrap and by operators; the
 * API has no public sign-up.
 */
export async function createOrganizationWithAdmin(
  em: EntityManager,
  input: { organizationName: string; adminEmail: string; adminName: string },
): Promise<{ organization: Organization; user: User }> {
  const organization = em.create(Organization, { name: input.organizationName });
  const user = (await em.findOne(User, { email: input.adminEmail })) ?? em.create(User, { email: input.adminEmail, name: input.adminName });
  em.create(Membership, { organization, user, role: 'admin' });
  await em.flush();
  return { organization, user };
}
