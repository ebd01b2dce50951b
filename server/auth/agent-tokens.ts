import { createSigner, createVerifier, TokenError } from 'fast-jwt';

export interface AgentClaims {
  targetId: string;
  organizationId: string;
  generation: number;
}

export type TokenCheck = { ok: true; claims: AgentClaims; expiresAt: Date } | { ok: false; reason: 'expired' | 'invalid' };

const AUDIENCE = 'distr-agent';
const ISSUER = 'distr-hub';

/**
 * Short-lived HS256 tokens for agents: audience agent, subject the target, its credential generation.
 * fast-jwt signs and verifies synchronously with node:crypto (~6 µs a verify); WebCrypto's HMAC
 * (jose) cost a thread-pool round trip, ~45–150 µs, on every connect of a reconnect storm.
 */
export class AgentTokens {
  private readonly sign: (payload: Record<string, unknown>) => string;
  private readonly check: (token: string) => Record<string, unknown>;

  constructor(
    secret: string,
    private readonly ttlSeconds: number,
  ) {
    this.sign = createSigner({ key: secret, algorithm: 'HS256', aud: AUDIENCE, iss: ISSUER });
    this.check = createVerifier({ key: secret, algorithms: ['HS256'], allowedAud: AUDIENCE, allowedIss: ISSUER, requiredClaims: ['exp', 'sub'] });
  }

  async issue(claims: AgentClaims): Promise<{ token: string; expiresAt: Date }> {
    const expiresAt = new Date(Date.now() + this.ttlSeconds * 1000);
    // exp in the payload (not the signer's expiresIn), so the token expires exactly at expiresAt.
    const token = this.sign({ sub: claims.targetId, org: claims.organizationId, gen: claims.generation, exp: Math.floor(expiresAt.getTime() / 1000) });
    return { token, expiresAt };
  }

  async verify(token: string): Promise<TokenCheck> {
    let payload: Record<string, unknown>;
    try {
      payload = this.check(token);
    } catch (err) {
      return { ok: false, reason: err instanceof TokenError && err.code === TokenError.codes.expired ? 'expired' : 'invalid' };
    }
    if (typeof payload.sub !== 'string' || typeof payload.org !== 'string' || typeof payload.gen !== 'number' || typeof payload.exp !== 'number') {
      return { ok: false, reason: 'invalid' };
    }
    return {
      ok: true,
      claims: { targetId: payload.sub, organizationId: payload.org, generation: payload.gen },
      expiresAt: new Date(payload.exp * 1000),
    };
  }
}

/** Agent tokens are JWTs (three dot-separated parts); vendor API keys are not. */
export function looksLikeAgentToken(token: string): boolean {
  return token.split('.').length === 3;
}
