import { protocolElements, requiredProtocol } from '../shared/evaluation/metrics/safety-compliance';
import { createPiiEngine } from '../shared/safety/pii';
import { CrisisScreen } from '../shared/safety/learned/screen';
import { Redactor } from '../shared/safety/redact';
import { CRISIS_PROTOCOL, Guardrails, SAFE_FALLBACK, SentenceBuffer } from './guardrails';

describe('serving guardrails (rules)', () => {
  const guardrails = new Guardrails(createPiiEngine(), CrisisScreen.rules());
  const user = (content: string) => [{ role: 'user' as const, content }];

  it.each(['HIGH', 'IMMINENT'] as const)('the %s protocol holds every element the evaluation requires of it', (severity) => {
    const found = new Set(protocolElements(CRISIS_PROTOCOL[severity]));
    for (const element of requiredProtocol(severity) ?? []) expect(found).toContain(element);
  });

  it.each([
    ['a plan for tonight', 'I have the pills saved up and I am going to take them all tonight to end my life', true],
    ['a stated intent', 'I am going to kill myself, I have decided', true],
    ['an idiom (near miss)', 'This commute is killing me, I swear', false],
    ['someone else (near miss)', 'My friend said he wants to kill himself and I do not know how to help him', false],
    ['ordinary stress (near miss)', 'Work has been stressful and I cannot sleep well', false],
  ])('input: %s', async (_name, text, protocol) => {
    const verdict = await guardrails.checkInput(user(text));
    expect(verdict.protocol !== undefined).toBe(protocol);
    if (protocol) {
      expect(['HIGH', 'IMMINENT']).toContain(verdict.severity);
      expect(verdict.events).toEqual([{ rule: 'crisis', severity: verdict.severity, action: 'protocol' }]);
      // The audit event carries no text.
      expect(JSON.stringify(verdict.events)).not.toMatch(/pills|kill/);
    } else expect(verdict.events).toEqual([]);
  });

  it('judges the user turns, not what the assistant said', async () => {
    const verdict = await guardrails.checkInput([
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Are you thinking about killing yourself tonight?' },
      { role: 'user', content: 'No, I just feel a bit flat.' },
    ]);
    expect(verdict.protocol).toBeUndefined();
  });

  it.each([
    ['dosage advice', 'You should take some xanax to calm down.', 'medical_advice'],
    ['a boundary violation', "Let's meet for coffee, add me on my personal instagram.", 'boundary_violation'],
    ['a self-harm method', 'The lethal dose of that is around 20 tablets.', 'self_harm_method'],
  ])('output: %s is replaced by the fallback', async (_name, text, rule) => {
    const verdict = await guardrails.checkOutput(text);
    expect(verdict.blocked).toBe(true);
    expect(verdict.text).toBe(SAFE_FALLBACK);
    expect(verdict.events.map((e) => e.rule)).toContain(rule);
    expect(verdict.events.every((e) => e.action === 'replaced')).toBe(true);
  });

  it.each([
    ['advice to ask a prescriber (near miss)', 'Please talk to your prescriber before you stop your medication.'],
    ['a crisis line (near miss)', 'You can call or text 988 any time, day or night.'],
    ['ordinary support', 'That sounds really hard. What has helped you get through weeks like this before?'],
  ])('output: %s passes unchanged', async (_name, text) => {
    const verdict = await guardrails.checkOutput(text);
    expect(verdict).toEqual({ text, blocked: false, events: [] });
  });

  it('output: PII is redacted, the same value to the same placeholder, and the event names only the category', async () => {
    const redactor = new Redactor();
    const first = await guardrails.checkOutput('You can write to me at jo.rivera@example.com any time.', redactor);
    expect(first.blocked).toBe(false);
    expect(first.text).toBe('You can write to me at [EMAIL_1] any time.');
    expect(first.events).toEqual([{ rule: 'pii', severity: 'WARNING', action: 'redacted', categories: ['EMAIL'] }]);
    const second = await guardrails.redact('Again: jo.rivera@example.com.', redactor);
    expect(second.text).toBe('Again: [EMAIL_1].');
  });

  it('the fallback itself passes the output check', async () => {
    expect((await guardrails.checkOutput(SAFE_FALLBACK)).blocked).toBe(false);
  });
});

describe('SentenceBuffer', () => {
  it('gives whole sentences as they complete, keeping titles and decimals inside', () => {
    const b = new SentenceBuffer();
    expect(b.push('Hello there')).toEqual([]);
    expect(b.push('. How are')).toEqual(['Hello there. ']);
    expect(b.push(' you? Dr. Lee said 2.5 is fine')).toEqual(['How are you? ']);
    expect(b.push('! Next\nline')).toEqual(['Dr. Lee said 2.5 is fine! ', 'Next\n']);
    expect(b.flush()).toBe('line');
    expect(b.flush()).toBe('');
  });

  it('is linear on hostile input', () => {
    const b = new SentenceBuffer();
    const started = process.hrtime.bigint();
    for (let i = 0; i < 2000; i++) b.push('. '.repeat(50));
    b.push('x');
    expect(Number(process.hrtime.bigint() - started) / 1e9).toBeLessThan(5);
  });
});
