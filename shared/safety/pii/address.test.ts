import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createPiiEngine } from '.';
import { AddressDetector } from './address';
import { mergeAddressFragments } from './presidio-eval';

const engine = createPiiEngine({ categories: ['ADDRESS'] });
const addresses = (text: string): string[] => engine.detect(text).map((f) => text.slice(f.start, f.end));

describe('AddressDetector', () => {
  it.each([
    ['I live at 42 Maple Street, Springfield, IL 62704', ['42 Maple Street, Springfield, IL 62704']],
    ['send it to Hauptstraße 5, 10115 Berlin please', ['Hauptstraße 5, 10115 Berlin']],
    ['ship to Via Roma 12, 00184 Roma', ['Via Roma 12, 00184 Roma']],
    ['her flat is at ul. Polna 7 now', ['ul. Polna 7']],
    ['my new address is Austurgata 21, Akureyri', ['Austurgata 21, Akureyri']],
    ['Jane Doe\n12 Elm Road\nApt. 3\nLeeds\nLS1 4AB', ['12 Elm Road\nApt. 3\nLeeds\nLS1 4AB']],
    ['> 8 Lindelaan 17\n> Suite 5\n> Apeldoorn', ['8 Lindelaan 17\n> Suite 5\n> Apeldoorn']],
    ['mail it to P.O. Box 1234 thanks', ['P.O. Box 1234']],
    ['USS Hopper\nFPO AE 09510', ['USS Hopper\nFPO AE 09510']],
    ['she grew up on Adams Street with us', ['Adams Street']],
    ['meet at the corner of 5th Avenue and 42nd Street', ['the corner of 5th Avenue and 42nd Street']],
    ['my zip code is 94110', ['94110']],
    ['it is 19 rue de la Paix in Paris', ['19 rue de la Paix']],
    // Near misses: numbers next to words that are not streets.
    ['I waited 2 hours in one way or another', []],
    ['I took a 15 minute walk today', []],
    ['I was 16 when it started', []],
    ['Chapter 5, Verse 3 helped me', []],
    ['Windows 10 keeps crashing', []],
    ['We watched Toy Story 3 twice', []],
    ['in Spring 2020 I lost my job', []],
    ['I take Zoloft 50 mg every morning', []],
    ['my address is private', []],
    ['room 12 was cold and Room 14 too', []],
    ['the 3 of us went round the circle', []],
  ] as [string, string[]][])('%s', (text, expected) => {
    expect(addresses(text)).toEqual(expected);
  });

  it('wins over a person name inside the address and explains its evidence', () => {
    const text = 'My address is 92 Eusebio Dávila 57\nLeeds, LS1 4AB';
    const [finding] = createPiiEngine().detect(text);
    expect(finding?.category).toBe('ADDRESS');
    expect(finding?.explanation).toMatch(/street-generic.*house number.*postal code.*address cue/);
    expect(finding?.explanation).not.toContain('Dávila');
  });

  it('rejects a lexicon that is not valid, naming the field', () => {
    const file = path.join(tmpdir(), `pixel-address-${process.pid}.yaml`);
    writeFileSync(file, 'streetTypes: []\n');
    expect(() => new AddressDetector(file)).toThrow(/streetTypes/);
  });
});

describe('mergeAddressFragments', () => {
  const span = (entity_type: string, text: string, part: string) => {
    const start = text.indexOf(part);
    return { entity_type, start_position: start, end_position: start + part.length };
  };
  it('joins touching ADDRESS and LOCATION fragments of one written address', () => {
    const text = 'Ann Lee\n\n36 19 Folkestone Road\n Suite 482\n Wincle\n Spain 63488';
    const gold = [
      span('PERSON', text, 'Ann Lee'),
      span('ADDRESS', text, '36'),
      span('ADDRESS', text, '19 Folkestone Road'),
      span('ADDRESS', text, 'Suite 482'),
      span('LOCATION', text, 'Wincle'),
      span('LOCATION', text, 'Spain'),
      span('ADDRESS', text, '63488'),
    ];
    const merged = mergeAddressFragments(text, gold);
    expect(merged.map((s) => [s.entity_type, text.slice(s.start_position, s.end_position)])).toEqual([
      ['PERSON', 'Ann Lee'],
      ['ADDRESS', '36 19 Folkestone Road\n Suite 482\n Wincle\n Spain 63488'],
    ]);
  });
  it('leaves a lone LOCATION and fragments separated by words alone', () => {
    const text = 'I moved from Paris to 5 Elm Road and 7 Oak Lane';
    const gold = [span('LOCATION', text, 'Paris'), span('ADDRESS', text, '5 Elm Road'), span('ADDRESS', text, '7 Oak Lane')];
    expect(mergeAddressFragments(text, gold)).toEqual(gold);
  });
});
