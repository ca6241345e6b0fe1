import { assessCrisis } from './crisis/assess';
import { createPiiEngine } from './pii';
import { Redactor } from './redact';

const engine = createPiiEngine();

describe('Redactor', () => {
  it('uses the same placeholder for the same entity across turns', () => {
    const r = new Redactor();
    const turns = ['Mail me at ana.li@example.com or call (415) 555-2671.', 'Again: ANA.LI@example.com, and (415) 555 2671.', 'Also bo@example.org.'];
    const out = turns.map((t) => r.redact(t, engine.detect(t)).text);
    expect(out).toEqual(['Mail me at [EMAIL_1] or call [PHONE_1].', 'Again: [EMAIL_1], and [PHONE_1].', 'Also [EMAIL_2].']);
  });

  it('never masks crisis language', () => {
    const text = "I'm going to kill myself tonight, said Maria Garcia";
    const crisis = assessCrisis(text);
    const findings = [{ category: 'PERSON', start: text.indexOf('kill'), end: text.indexOf('kill') + 4, score: 0.9, detector: 'T', explanation: '' }];
    const { text: redacted } = new Redactor().redact(text, [...findings, ...engine.detect(text)], crisis.indicators);
    expect(redacted).toContain('kill myself tonight');
    expect(redacted).toContain('[PERSON_1]');
  });

  it('keeps crisis-line numbers', () => {
    const text = 'You can call 1-800-273-8255 any time, or me on (415) 555-2671.';
    const { text: redacted } = new Redactor().redact(text, engine.detect(text));
    expect(redacted).toBe('You can call 1-800-273-8255 any time, or me on [PHONE_1].');
  });

  it('leaves text without PII unchanged (near miss)', () => {
    const text = 'I have felt low for 3 weeks and slept 5 hours a night.';
    expect(new Redactor().redact(text, engine.detect(text)).text).toBe(text);
  });
});
