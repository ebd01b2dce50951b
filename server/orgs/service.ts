import type { EntityManager } from '@mikro-orm/postgresql';
import type { VendorPrincipal } from '../context.js';
import { RuleViolationError } from '../errors.js';
import { findOwned } from '../scoping.js';
import { columnsOf } from '../db/rows.js';
import { Membership, Organization, User, type Role } from './entities.js';

/** Members of the caller's organization. */
export class OrganizationService {
  constructor(
    private readonly em: EntityManager,
    private readonly actor: VendorPrincipal,
  ) {}

  /**
   * The caller's user and organization as plain rows, in one statement: every console page load
   * asks for them (the `Viewer` query), and two entity loads cost more than the database work.
   */
  async viewer(): Promise<{ user: Pick<User, 'id' | 'email' | 'name'>; organization: Pick<Organization, 'id' | 'name'> }> {
    const rows: Record<string, unknown>[] = await this.em.execute(
      `/* viewer */ select u.email, u.name as user_name, o.name as organization_name
       from ${this.em.getMetadata(User).tableName} u join ${this.em.getMetadata(Organization).tableName} o on o.id = ?
       where u.id = ?`,
      [this.actor.organizationId, this.actor.userId],
    );
    if (!rows[0]) throw new Error('viewer: the authenticated user or organization is gone');
    const c = columnsOf('viewer', rows[0]);
    return {
      user: { id: this.actor.userId, email: c.text('email'), name: c.text('user_name') },
      organization: { id: this.actor.organizationId, name: c.text('organization_name') },
    };
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
