import { jwtVerify, SignJWT, errors as joseErrors } from 'jose';

export interface AgentClaims {
  targetId: string;
  organizationId: string;
  generation: number;
}

export type TokenCheck = { ok: true; claims: AgentClaims; expiresAt: Date } | { ok: false; reason: 'expired' | 'invalid' };

const AUDIENCE = 'distr-agent';
const ISSUER = 'distr-hub';

/** Short-lived HS256 tokens for agents: audience agent, subject the target, its credential generation. */
export class AgentTokens {
  private readonly key: Uint8Array;

  constructor(
    secret: string,
    private readonly ttlSeconds: number,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  async issue(claims: AgentClaims): Promise<{ token: string; expiresAt: Date }> {
    const expiresAt = new Date(Date.now() + this.ttlSeconds * 1000);
    const token = await new SignJWT({ org: claims.organizationId, gen: claims.generation })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(claims.targetId)
      .setAudience(AUDIENCE)
      .setIssuer(ISSUER)
      .setIssuedAt()
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(this.key);
    return { token, expiresAt };
  }

  async verify(token: string): Promise<TokenCheck> {
    try {
      const { payload } = await jwtVerify(token, this.key, { audience: AUDIENCE, issuer: ISSUER, algorithms: ['HS256'] });
      if (typeof payload.sub !== 'string' || typeof payload.org !== 'string' || typeof payload.gen !== 'number') {
        return { ok: false, reason: 'invalid' };
      }
      return {
        ok: true,
        claims: { targetId: payload.sub, organizationId: payload.org, generation: payload.gen },
        expiresAt: new Date((payload.exp ?? 0) * 1000),
      };
    } catch (err) {
      return { ok: false, reason: err instanceof joseErrors.JWTExpired ? 'expired' : 'invalid' };
    }
  }
}

/** Agent tokens are JWTs (three dot-separated parts); vendor API keys are not. */
export function looksLikeAgentToken(token: string): boolean {
  return token.split('.').length === 3;
}
