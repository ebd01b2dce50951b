import type { EntityManager } from '@mikro-orm/postgresql';
import type { VendorPrincipal } from '../context.js';
import { ConflictError, InvalidInputError, RuleViolationError } from '../errors.js';
import { findOwned, flushOrConflict } from '../scoping.js';
import { requireName } from '../validation.js';
import { Membership, Organization, User, type Role } from './entities.js';

const EMAIL = /^[^@\s]+@[^@\s]+$/;

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

  async addMember(input: { email: string; name: string; role: Role }): Promise<Membership> {
    const email = input.email.trim().toLowerCase();
    if (!EMAIL.test(email)) throw new InvalidInputError('email', `"${input.email}" is not an email address`);
    const user = (await this.em.findOne(User, { email })) ?? this.em.create(User, { email, name: requireName('name', input.name) });
    const membership = this.em.create(Membership, { organization: this.actor.organizationId, user, role: input.role });
    await flushOrConflict(this.em, () => new ConflictError('email', `${email} is already a member`));
    return membership;
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
