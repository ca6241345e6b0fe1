import { MAX_TOKEN_DAYS, signReviewerToken, tokenExpiry, verifyReviewerToken } from './auth';

const SECRET = 'auth-test-secret-0123456789';

describe('reviewer tokens', () => {
  it('carry the id (dots included), the version and the expiry, signed together', () => {
    const expiresAt = Date.now() + 60_000;
    const token = signReviewerToken(SECRET, 'dr.mei@clinic.org', { version: 3, expiresAt });
    expect(verifyReviewerToken(SECRET, token)).toEqual({
      ok: true,
      reviewerId: 'dr.mei@clinic.org',
      version: 3,
      expiresAt: Math.floor(expiresAt / 1000) * 1000,
    });
    // Each part is covered by the signature.
    const [sig] = token.split('.').slice(-1);
    for (const changed of [
      `dr.mex@clinic.org.3.${token.split('.').at(-2)}.${sig}`,
      token.replace('.3.', '.4.'),
      token.replace(/\.(\d+)\.([^.]+)$/, '.9$1.$2'),
    ])
      expect(verifyReviewerToken(SECRET, changed)).toEqual({ ok: false, reason: 'forged' });
    expect(verifyReviewerToken('another-secret-0123456789', token)).toEqual({ ok: false, reason: 'forged' });
  });

  it('expire', () => {
    const token = signReviewerToken(SECRET, 'dr-amara', { expiresAt: Date.now() + 5_000 });
    expect(verifyReviewerToken(SECRET, token).ok).toBe(true);
    expect(verifyReviewerToken(SECRET, token, Date.now() + 6_000)).toEqual({ ok: false, reason: 'expired' });
    expect(() => tokenExpiry(0)).toThrow(/1 to 90 days/);
    expect(() => tokenExpiry(MAX_TOKEN_DAYS + 1)).toThrow(/1 to 90 days/);
    expect(() => signReviewerToken(SECRET, 'dr-amara', { version: 0 })).toThrow(/version/);
  });

  it('refuse malformed input quickly, whatever its size or shape', () => {
    for (const bad of [
      undefined,
      null,
      '',
      'dr-amara',
      'dr-amara.sig',
      '.1.2.sig',
      'a.0.2.sig',
      'a.1.x.sig',
      'a.01.2.sig',
      'a.1.2.',
      '.'.repeat(400),
      'a'.repeat(600),
    ])
      expect(verifyReviewerToken(SECRET, bad)).toEqual({ ok: false, reason: 'malformed' });
    const started = Date.now();
    for (let i = 0; i < 1000; i++) verifyReviewerToken(SECRET, 'x.'.repeat(100_000));
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
