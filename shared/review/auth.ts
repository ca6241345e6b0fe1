import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

/**
 * The secret that signs reviewers' links: `PIXEL_REVIEW_SECRET`, else `$PIXEL_HOME/review-secret`
 * (created on first use, readable by its owner only). Whoever holds it can sign in as anyone.
 */
export function reviewSecret(home = process.env.PIXEL_HOME ?? '.pixel'): string {
  const fromEnv = process.env.PIXEL_REVIEW_SECRET;
  if (fromEnv) {
    if (fromEnv.length < 16) throw new Error('PIXEL_REVIEW_SECRET must be at least 16 characters');
    return fromEnv;
  }
  const file = path.join(home, 'review-secret');
  if (!existsSync(file)) {
    mkdirSync(home, { recursive: true });
    writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  }
  return readFileSync(file, 'utf8').trim();
}

/** How long a sign-in link works unless `pixel review link --days` says otherwise. */
export const DEFAULT_TOKEN_DAYS = 7;
/** The longest a link may work. */
export const MAX_TOKEN_DAYS = 90;
const DAY_MS = 24 * 3600 * 1000;
/** Longest token accepted: a 128-character id and the fixed parts fit well within it. */
const MAX_TOKEN_CHARS = 512;

/** What a valid token says: who, which of their token versions, and until when (ms since the epoch). */
export interface ReviewerToken {
  reviewerId: string;
  version: number;
  expiresAt: number;
}

export type TokenCheck = ({ ok: true } & ReviewerToken) | { ok: false; reason: 'malformed' | 'forged' | 'expired' };

const mac = (secret: string, payload: string) => createHmac('sha256', secret).update(`pixel-review:v2:${payload}`).digest('base64url');

/**
 * A reviewer's token, `ID.VERSION.EXPIRY.MAC`: their id, their token version in the registry
 * (bumping it there revokes every token signed before), the expiry in seconds since the epoch,
 * and an HMAC of the three, so the server keeps no password store.
 */
export function signReviewerToken(secret: string, reviewerId: string, options: { version?: number; expiresAt?: number } = {}): string {
  const version = options.version ?? 1;
  const expiresAt = options.expiresAt ?? Date.now() + DEFAULT_TOKEN_DAYS * DAY_MS;
  if (!Number.isInteger(version) || version < 1) throw new Error(`token version ${version} must be a whole number from 1`);
  const payload = `${reviewerId}.${version}.${Math.floor(expiresAt / 1000)}`;
  return `${payload}.${mac(secret, payload)}`;
}

/** The expiry `days` from `now`, checked against {@link MAX_TOKEN_DAYS}. */
export function tokenExpiry(days: number, now = Date.now()): number {
  if (!(days > 0 && days <= MAX_TOKEN_DAYS)) throw new Error(`a sign-in link may work for 1 to ${MAX_TOKEN_DAYS} days, not ${days}`);
  return now + days * DAY_MS;
}

/**
 * Checks a token's signature and expiry. It does not know whether the reviewer is still in the
 * registry or whether the version is still theirs: the review server checks that on each request.
 */
export function verifyReviewerToken(secret: string, token: string | undefined | null, now = Date.now()): TokenCheck {
  if (!token || token.length > MAX_TOKEN_CHARS) return { ok: false, reason: 'malformed' };
  const parts = token.split('.');
  if (parts.length < 4) return { ok: false, reason: 'malformed' };
  const signature = parts.pop() as string;
  const expiry = parts.pop() as string;
  const versionText = parts.pop() as string;
  const reviewerId = parts.join('.');
  if (!/^[\w.:@-]{1,128}$/.test(reviewerId) || !/^[1-9]\d{0,9}$/.test(versionText) || !/^\d{1,12}$/.test(expiry) || !/^[\w-]{43}$/.test(signature))
    return { ok: false, reason: 'malformed' };
  const given = Buffer.from(signature);
  const expected = Buffer.from(mac(secret, `${reviewerId}.${versionText}.${expiry}`));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'forged' };
  const expiresAt = Number(expiry) * 1000;
  if (expiresAt <= now) return { ok: false, reason: 'expired' };
  return { ok: true, reviewerId, version: Number(versionText), expiresAt };
}
