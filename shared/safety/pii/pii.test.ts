import { createPiiEngine, createPiiRegistry } from '.';
import type { Finding } from '../types';
import { expectLinear } from '../../../test/linear-time';
import { PatternDetectorConfigSchema } from '../pattern-detector';
import { PersonDetector, sharedPersonDetector } from './person';

const engine = createPiiEngine();
const found = (text: string): [string, string][] => engine.detect(text).map((f: Finding) => [f.category, text.slice(f.start, f.end)]);

describe('PII detectors', () => {
  it.each([
    // [text, expected findings]; near misses expect none.
    ['write to jane.doe+work@example.org today', [['EMAIL', 'jane.doe+work@example.org']]],
    ['my handle is jane@localhost', []],
    ['an @ sign alone: me @ home', []],
    ['SSN 123-45-6789 on the form', [['US_SSN', '123-45-6789']]],
    ['invalid area 666-45-6789', []],
    ['invalid group 123-00-6789', []],
    ['part number 123-45-67890', []],
    ['card 4111 1111 1111 1111 please', [['CREDIT_CARD', '4111 1111 1111 1111']]],
    ['fails Luhn 4111 1111 1111 1112', []],
    ['IBAN GB82 WEST 1234 5698 7654 32 to pay', [['IBAN', 'GB82 WEST 1234 5698 7654 32']]],
    ['bad checksum GB82 WEST 1234 5698 7654 33', []],
    ['server at 192.168.10.254 is down', [['IP_ADDRESS', '192.168.10.254']]],
    ['version 1.2.3.4.5 is out', []],
    ['not an address 256.1.1.1', []],
    ['v6 2001:db8:85a3::8a2e:370:7334 here', [['IP_ADDRESS', '2001:db8:85a3::8a2e:370:7334']]],
    ['meet at 12:30 today', []],
    ['see https://example.com/path?q=1.', [['URL', 'https://example.com/path?q=1']]],
    ['visit example.org for more', [['DOMAIN', 'example.org']]],
    ['the file notes.txt is open', []],
    ['I was born on March 4, 1991 in Ohio', [['DATE_OF_BIRTH', 'March 4, 1991']]],
    ['the meeting is on 12/05/2024', [['DATE', '12/05/2024']]],
    ['ratio 3/4 of them', []],
    ['my son is 12 years old', [['AGE', '12']]],
    ['I spent 12 years in the army', []],
    ['I live at 42 Maple Street, Springfield, IL 62704', [['ADDRESS', '42 Maple Street, Springfield, IL 62704']]],
    ['call me on (415) 555-2671 tonight', [['PHONE', '(415) 555-2671']]],
    ['call 988 if you are in crisis', []],
    ['the count was 1234567 items', []],
    ['I talked to Maria Garcia yesterday', [['PERSON', 'Maria Garcia']]],
    ['my name is Kwame', [['PERSON', 'Kwame']]],
    // A title before a name is a finding of its own: it tells gender, marital status or profession.
    [
      'Dr. Okafor said it would pass',
      [
        ['PERSON', 'Dr.'],
        ['PERSON', 'Okafor'],
      ],
    ],
    [
      'I told Mrs Lindqvist and Mr. Tanaka',
      [
        ['PERSON', 'Mrs'],
        ['PERSON', 'Lindqvist'],
        ['PERSON', 'Mr.'],
        ['PERSON', 'Tanaka'],
      ],
    ],
    ['the Dr. said so', []],
    ['ask the Drs Smith practice', []],
    ['I will try harder this May', []],
    ['Hope is what keeps me going', []],
    ['We went to Costa Rica last year', []],
    ['Thank you, that helps', []],
    ['I feel like Harbor Freight is hiring', []],
    ['Editor Laura Brennan explained it', [['PERSON', 'Laura Brennan']]],
    ['please ask jessica moreau about it', [['PERSON', 'jessica moreau']]],
    ['i will mark it as done', []],
  ] as [string, [string, string][]][])('%s', (text, expected) => {
    expect(found(text)).toEqual(expected);
  });

  it('explains each finding without quoting the text', () => {
    const [finding] = engine.detect('SSN 123-45-6789');
    expect(finding?.explanation).toMatch(/pattern dashed .*context \+0\.35.*ssn valid/);
    expect(finding?.explanation).not.toContain('6789');
  });

  it('keeps the stronger of two overlapping findings and says why the other lost', () => {
    const result = engine.analyze('card 4111111111111111 ok');
    expect(result.findings.map((f) => f.category)).toEqual(['CREDIT_CARD']);
  });
});

describe('linear-time matching', () => {
  // Near-matches of every detector, by unit; each test grows the text from 25 KB to 100 KB.
  const adversarial: [string, string][] = [
    ['digits', '1'],
    ['digit groups', '1234 '],
    ['local parts', 'a.'],
    ['almost emails', 'a@b'],
    ['labels', 'ab-'],
    ['dotted numbers', '1.'],
    ['hex and colons', 'a:'],
    ['capitalised words', 'Maple '],
    ['titled names', 'Dr. Maple '],
    ['lower-case names', 'jessica moreau and '],
    ['numbered words', '12 Oak '],
    ['urls', 'www.'],
    ['dashes', '12-'],
    ['years old', '1 years '],
  ];
  const registry = createPiiRegistry();
  it.each(registry.select().flatMap((d) => adversarial.map(([name, unit]) => [d.name, name, unit] as const)))(
    '%s is linear on %s',
    (detectorName, _name, unit) => {
      const detector = registry.select().find((d) => d.name === detectorName)!;
      expectLinear(
        (text) => detector.detect(text),
        (n) => unit.repeat(Math.ceil(n / unit.length)),
      );
    },
  );

  it('refuses a detector file whose pattern may backtrack', () => {
    const config = { name: 'BadDetector', categories: ['BAD'], patterns: [{ name: 'nested', regex: '(?:a+)+b', score: 0.5 }] };
    const parsed = PatternDetectorConfigSchema.safeParse(config);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toMatch(/more than linear time/);
    expect(PatternDetectorConfigSchema.safeParse({ ...config, patterns: [{ name: 'bounded', regex: '(?:ab){1,3}c', score: 0.5 }] }).success).toBe(
      true,
    );
  });
});

describe('person rules remembering recent texts', () => {
  it('answers a repeated text the same, and a caller changing an answer changes nothing later', () => {
    const detector = new PersonDetector();
    const text = 'Yesterday Maria Lopez called me about the group session.';
    const first = detector.detect(text);
    expect(first.map((f) => text.slice(f.start, f.end))).toEqual(['Maria Lopez']);
    first[0]!.start = 0;
    first.sort(() => -1).push({ ...first[0]!, category: 'EMAIL_ADDRESS' });
    expect(detector.detect(text)).toEqual(new PersonDetector().detect(text));
    expect(detector.detect(text).map((f) => text.slice(f.start, f.end))).toEqual(['Maria Lopez']);
  });

  it('is the same detector for the engine and the name tagger', () => {
    expect(sharedPersonDetector()).toBe(sharedPersonDetector());
    expect(createPiiRegistry().select(['PERSON'])).toContain(sharedPersonDetector());
  });
});
