import type { EntityManager } from '@mikro-orm/postgresql';
import type { VendorPrincipal } from '../context.js';
import { ConflictError, InvalidInputError, NotFoundError, RuleViolationError } from '../errors.js';
import { hashPassword, passwordMatches } from '../auth/passwords.js';
import { ApiKey } from '../auth/entities.js';
import { formatApiKey } from '../auth/api-keys.js';
import { hashSecret, newSecret } from '../auth/secrets.js';
import { findOwned } from '../scoping.js';
import { requireName } from '../validation.js';
import { Invitation, Membership, User, type Role } from './entities.js';

const EMAIL = /^[^@\s]+@[^@\s]+$/;
/** How long an invitation can be accepted. */
export const INVITATION_DAYS = 7;
const TOKEN = /^distr_inv_([A-Za-z0-9_-]{43})$/;
const REFUSED = 'this invitation is invalid, already used, expired or revoked';

export interface CreatedInvitation {
  invitation: Invitation;
  /** `distr_inv_…`: shown once; whoever holds it can accept. */
  token: string;
}

export function normalizeEmail(raw: string): string {
  const email = raw.trim().toLowerCase();
  if (!EMAIL.test(email)) throw new InvalidInputError('email', `"${raw}" is not an email address`);
  return email;
}

/**
 * Invitations of the caller's organization. Creating one reveals nothing about the address: the
 * answer has the same shape whether it has an account (in another organization or none) or not;
 * only a member of this organization is refused (a conflict the admin can already see).
 */
export class InvitationService {
  constructor(
    private readonly em: EntityManager,
    private readonly actor: VendorPrincipal,
  ) {}

  list(): Promise<Invitation[]> {
    return this.em.find(
      Invitation,
      { organization: this.actor.organizationId, acceptedAt: null, revokedAt: null, expiresAt: { $gt: new Date() } },
      { orderBy: { createdAt: 'asc' } },
    );
  }

  /** A new invitation for the address; an older pending one for it is revoked (one token at a time). */
  async invite(input: { email: string; role: Role; name?: string | null }): Promise<CreatedInvitation> {
    const email = normalizeEmail(input.email);
    const suggestedName = input.name != null && input.name.trim() !== '' ? requireName('name', input.name) : null;
    return this.em.transactional(async (em) => {
      const member = await em.findOne(Membership, { organization: this.actor.organizationId, user: { email } });
      if (member) throw new ConflictError('email', `${email} is already a member`);
      await em.nativeUpdate(Invitation, { organization: this.actor.organizationId, email, acceptedAt: null, revokedAt: null }, { revokedAt: new Date() });
      const secret = newSecret();
      const invitation = em.create(Invitation, {
        organization: this.actor.organizationId,
        email,
        role: input.role,
        suggestedName,
        tokenHash: hashSecret(secret),
        invitedBy: this.actor.userId,
        expiresAt: new Date(Date.now() + INVITATION_DAYS * 24 * 3600 * 1000),
      });
      await em.flush();
      return { invitation, token: `distr_inv_${secret}` };
    });
  }

  async revoke(id: string): Promise<Invitation> {
    const invitation = await findOwned(this.em, Invitation, 'invitation', id, { organization: this.actor.organizationId });
    if (invitation.acceptedAt) throw new NotFoundError('invitation', id);
    invitation.revokedAt ??= new Date();
    await this.em.flush();
    return invitation;
  }
}

/**
 * Accept an invitation with its token (no other credential: the token was sent to the address).
 * Once: the token is spent in the same transaction that adds the membership. The invited user (an
 * existing account with that address, or a new one) becomes a member with the invited role and
 * gets an API key for this organization, shown once.
 */
export async function acceptInvitation(
  em: EntityManager,
  input: { token: string; name?: string | null },
): Promise<{ membership: Membership; apiKey: { key: ApiKey; secret: string } }> {
  const { membership, key, secret } = await spendInvitation(em, input, async (tx, membership) => {
    const secret = newSecret();
    const key = tx.create(ApiKey, { organization: membership.organization, user: membership.user, name: 'invitation', secretHash: hashSecret(secret), roleCap: membership.role });
    return { membership, key, secret };
  });
  // The key's id exists once it is flushed (spendInvitation flushes after `then`).
  return { membership, apiKey: { key, secret: formatApiKey(key.id, secret) } };
}

/**
 * The console's way in (POST /auth/accept-invitation): accept with a password instead of receiving
 * an API key. A new account gets that password; an existing account must give its own (whoever
 * holds the token may not set or bypass the password of an account that already exists). Nothing is
 * spent when the password is refused.
 */
export async function acceptInvitationWithPassword(em: EntityManager, input: { token: string; name?: string | null; password: string }): Promise<Membership> {
  const newHash = await hashPassword(input.password);
  return spendInvitation(em, input, async (_tx, membership, isNew) => {
    const user = membership.user;
    if (isNew) user.passwordHash = newHash;
    else if (!user.passwordHash) throw new RuleViolationError('password', `${user.email} has an account without a console password; accept with the API (acceptInvitation) instead`);
    else if (!(await passwordMatches(input.password, user.passwordHash))) throw new WrongPasswordError(user.email);
    return membership;
  });
}

/** The existing account's password did not match (counted by the sign-in limiter, like a failed sign-in). */
export class WrongPasswordError extends InvalidInputError {
  constructor(readonly email: string) {
    super('password', `wrong password for the existing account ${email}`);
  }
}

/** The address a pending invitation was sent to, if the token names one (nothing is spent). */
export async function pendingInvitationEmail(em: EntityManager, token: string): Promise<string | null> {
  const match = TOKEN.exec(token.trim());
  if (!match) return null;
  const invitation = await em.findOne(Invitation, { tokenHash: hashSecret(match[1]!), acceptedAt: null, revokedAt: null, expiresAt: { $gt: new Date() } });
  return invitation?.email ?? null;
}

async function spendInvitation<T>(em: EntityManager, input: { token: string; name?: string | null }, then: (tx: EntityManager, membership: Membership, isNewUser: boolean) => Promise<T>): Promise<T> {
  const match = TOKEN.exec(input.token.trim());
  if (!match) throw new InvalidInputError('token', REFUSED);
  return em.transactional(async (tx) => {
    const tokenHash = hashSecret(match[1]!);
    const now = new Date();
    const spent = await tx.nativeUpdate(Invitation, { tokenHash, acceptedAt: null, revokedAt: null, expiresAt: { $gt: now } }, { acceptedAt: now });
    if (spent !== 1) throw new InvalidInputError('token', REFUSED);
    const invitation = await tx.findOneOrFail(Invitation, { tokenHash });
    const name = input.name != null && input.name.trim() !== '' ? requireName('name', input.name) : (invitation.suggestedName ?? invitation.email.split('@')[0]!);
    const existingUser = await tx.findOne(User, { email: invitation.email });
    const user = existingUser ?? tx.create(User, { email: invitation.email, name });
    const existing = await tx.findOne(Membership, { organization: invitation.organization.id, user: { email: invitation.email } });
    if (existing) throw new ConflictError('token', `${invitation.email} is already a member of this organization`);
    const membership = tx.create(Membership, { organization: invitation.organization.id, user, role: invitation.role });
    const result = await then(tx, membership, !existingUser);
    await tx.flush();
    await tx.populate(membership, ['user', 'organization']);
    return result;
  });
}
