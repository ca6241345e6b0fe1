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

const mac = (secret: string, reviewerId: string) => createHmac('sha256', secret).update(`pixel-review:v1:${reviewerId}`).digest('base64url');

/** A reviewer's token: their id and an HMAC of it, so the server keeps no password store. */
export function signReviewerToken(secret: string, reviewerId: string): string {
  return `${reviewerId}.${mac(secret, reviewerId)}`;
}

/** The reviewer a token belongs to, or null when it is malformed or not signed with `secret`. */
export function verifyReviewerToken(secret: string, token: string | undefined | null): string | null {
  if (!token || token.length > 512) return null;
  const dot = token.lastIndexOf('.');
  if (dot <= 0) return null;
  const reviewerId = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1));
  const expected = Buffer.from(mac(secret, reviewerId));
  return given.length === expected.length && timingSafeEqual(given, expected) ? reviewerId : null;
}
