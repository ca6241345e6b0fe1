import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { expectLinear } from '../../../test/linear-time';
import type { Finding } from '../types';
import { PersonDetector } from './person';
import {
  alignPieces,
  combinePersons,
  RULE_CERTAIN,
  filterPersonSpans,
  withoutLeadingWords,
  withoutTrailingWords,
  mayNameSomeone,
  normaliseForBert,
  personSpans,
  PersonTagger,
  RAMPART,
  sentences,
  spanFilterLexicon,
  verifyRampart,
} from './rampart';

const finding = (start: number, end: number, category = 'PERSON', score = 0.7): Finding => ({
  category,
  start,
  end,
  score,
  detector: 'rules',
  explanation: '',
});

const textOf = (text: string, spans: readonly { start: number; end: number }[]) => spans.map((s) => text.slice(s.start, s.end));

describe('Rampart person spans', () => {
  it('maps the normalised text back to the original characters', () => {
    const { norm, map } = normaliseForBert('Zoë Ávila');
    expect(norm).toBe('zoe avila');
    expect(map[2]).toBe(2);
    expect(map[4]).toBe(4);
  });

  it('joins given name and surname, continues word pieces, and scores a span by its surest piece', () => {
    const text = "Call Anneke van Dijk-O'Hare at 5.";
    const pieces = alignPieces(text, ['call', 'ann', '##eke', 'van', 'dijk', '-', 'o', "'", 'hare', 'at', '5', '.']);
    const probability = [0.01, 0.9, 0.2, 0.8, 0.8, 0.7, 0.8, 0.6, 0.8, 0.01, 0.02, 0.01];
    const spans = personSpans(text, pieces, probability, 0.5);
    expect(textOf(text, spans)).toEqual(["Anneke van Dijk-O'Hare"]);
    expect(spans[0]!.score).toBe(0.9);
    expect(spans[0]!.explanation).not.toContain('Anneke');
  });

  it('keeps an initial and its dot inside the name', () => {
    const text = 'Be well, Robin J. Vale, LPC';
    const pieces = alignPieces(text, ['be', 'well', ',', 'robin', 'j', '.', 'vale', ',', 'lp', '##c']);
    const spans = personSpans(text, pieces, [0, 0, 0, 0.9, 0.8, 0.01, 0.9, 0, 0.1, 0.1], 0.3);
    expect(textOf(text, spans)).toEqual(['Robin J. Vale']);
  });

  it('keeps two names apart when words come between them, and ignores pieces under the threshold', () => {
    const text = 'Ines and Tomas';
    const pieces = alignPieces(text, ['ines', 'and', 'tomas']);
    expect(textOf(text, personSpans(text, pieces, [0.9, 0.1, 0.6], 0.5))).toEqual(['Ines', 'Tomas']);
    expect(textOf(text, personSpans(text, pieces, [0.9, 0.1, 0.4], 0.5))).toEqual(['Ines']);
  });

  it('drops word fragments, ordinary words, acronyms, places and companies, and keeps names', () => {
    const lex = spanFilterLexicon();
    const keep = (text: string, word: string) => {
      const start = text.indexOf(word);
      return textOf(text, filterPersonSpans(text, [finding(start, start + word.length)], lex));
    };
    expect(keep('She was sleepless all week.', 'less')).toEqual([]);
    // Widened to "sleepless", an ordinary word.
    expect(keep('She was sleepless all week.', 'sleep')).toEqual([]);
    expect(keep('We talked about betrayal and trust.', 'betrayal')).toEqual([]);
    expect(keep('Therapy with Mindfulness can help.', 'Mindfulness')).toEqual([]);
    expect(keep('Ask your therapist about CBT and DBT.', 'DBT')).toEqual([]);
    expect(keep('We moved to Portugal last year.', 'Portugal')).toEqual([]);
    expect(keep('He works at Hollis Ltd now.', 'Hollis')).toEqual([]);
    expect(keep('The Okafor Technology Solutions office is closed.', 'Okafor')).toEqual([]);
    expect(keep('I met Okafor yesterday.', 'Okafor')).toEqual(['Okafor']);
    expect(keep('I met Grace yesterday.', 'Grace')).toEqual(['Grace']);
    expect(keep('then sarah called me again', 'sarah')).toEqual(['sarah']);
    // A span that ends inside a word is widened to the word's end.
    expect(keep('I met Okaforson yesterday.', 'Okafor')).toEqual(['Okaforson']);
    // Lower-case ordinary words at a span's end are the sentence going on, in cased text only.
    expect(keep('Klimek shouted at me again.', 'Klimek shouted')).toEqual(['Klimek']);
    expect(keep('Then Ines Okafor and me left.', 'Ines Okafor and')).toEqual(['Ines Okafor']);
    expect(keep('Ask Mary rose about it.', 'Mary rose')).toEqual(['Mary rose']);
    expect(keep('then klimek shouted at me again', 'klimek shouted')).toEqual(['klimek shouted']);
    // An ordinary word before a name that no list knows is a role, a greeting or a band, not the name.
    expect(keep('This song by ex-Zombie Okafor is great.', 'Zombie Okafor')).toEqual(['Okafor']);
    expect(keep('Thanks Okafor, see you then.', 'Thanks Okafor')).toEqual(['Okafor']);
    expect(keep('this song by ex-zombie okafor is great', 'zombie okafor')).toEqual(['okafor']);
    // A known name stays ("Rose" is one); a span of ordinary words is left whole to the filters.
    expect(keep('Ask Rose Okafor about it.', 'Rose Okafor')).toEqual(['Rose Okafor']);
  });

  it('cuts leading words off a span only where a kept word follows, in one forward pass', () => {
    const ordinary = (w: string) => ['zombie', 'thanks', 'officer', 'the'].includes(w.toLowerCase());
    const cut = (text: string) => text.slice(withoutLeadingWords(text, 0, text.length, ordinary));
    expect(cut('Zombie Vale')).toBe('Vale');
    expect(cut('Thanks Officer Vale')).toBe('Vale');
    expect(cut('Zombie Officer')).toBe('Zombie Officer');
    // Only whitespace separates a dropped word: a hyphen or an apostrophe holds the name together.
    expect(cut('Zombie-Vale')).toBe('Zombie-Vale');
    expect(cut("Thanks' Vale")).toBe("Thanks' Vale");
    expect(cut('Vale')).toBe('Vale');
    expectLinear(
      (text) => withoutLeadingWords(text, 0, text.length, ordinary),
      (n) => `${'the '.repeat(n)}Vale`,
      50_000,
    );
  });

  it('cuts trailing words off a span, never its first word, in one backwards pass', () => {
    const lower = (w: string) => w === w.toLowerCase();
    const cut = (text: string) => text.slice(0, withoutTrailingWords(text, 0, text.length, lower));
    expect(cut('Vale said so')).toBe('Vale');
    expect(cut('Vale-said')).toBe('Vale');
    expect(cut('van Gijn')).toBe('van Gijn');
    expect(cut('shouted')).toBe('shouted');
    expect(cut("O'Neil's")).toBe("O'Neil's");
    expect(cut('Vale  ')).toBe('Vale  ');
    expectLinear(
      (text) => withoutTrailingWords(text, 0, text.length, lower),
      (n) => `Vale${' x'.repeat(n)}`,
      50_000,
    );
  });

  it('cuts sentences at stops but not after titles or initials, with offsets into the text', () => {
    const text = 'Hello, this is Dr. Mara Ilic. Who are you?  Best wishes,\nRobin J. Vale';
    const parts = sentences(text);
    // A line break alone does not cut: a signature read line by line looks like names.
    expect(parts.map((s) => s.text)).toEqual(['Hello, this is Dr. Mara Ilic. ', 'Who are you?  ', 'Best wishes,\nRobin J. Vale']);
    for (const s of parts) expect(text.slice(s.offset, s.offset + s.text.length)).toBe(s.text);
    const long = `${'word '.repeat(200)}end`;
    const cut = sentences(long, 100);
    expect(cut.every((s) => s.text.length <= 100)).toBe(true);
    expect(cut.map((s) => s.text).join('')).toBe(long);
  });

  it('cuts, screens and filters hostile text in linear time', () => {
    const lex = spanFilterLexicon();
    for (const unit of ['a', '.', '!', '.)', 'J. ', 'Mr.', 'Okafor ', 'x.y! ', '\n']) {
      const make = (n: number) => unit.repeat(Math.ceil(n / unit.length));
      expectLinear((text) => sentences(text), make, 50_000);
      expectLinear((text) => sentences(text).filter((s) => mayNameSomeone(s.text, lex)), make, 50_000);
      expectLinear(
        (text) => filterPersonSpans(text, [finding(0, Math.min(6, text.length)), finding(text.length - 3, text.length)], lex),
        make,
        50_000,
      );
    }
  });

  it('combines thousands of names near-linearly', () => {
    const make = (n: number) => 'x'.repeat(n);
    const combine = (text: string) => {
      const rules: Finding[] = [];
      const tagged: Finding[] = [];
      for (let at = 0; at + 8 < text.length; at += 10) {
        rules.push(finding(at, at + 6));
        if (at % 40 === 0) tagged.push(finding(at + 2, at + 8));
      }
      return combinePersons(rules, { findings: tagged, covered: [{ start: 0, end: text.length / 2 }] });
    };
    expectLinear(combine, make, 100_000);
  });

  it('sends on only sentences that may name someone', () => {
    const lex = spanFilterLexicon();
    expect(mayNameSomeone('The weather was awful and I could not sleep.', lex)).toBe(false);
    expect(mayNameSomeone("I'm so tired of everything lately", lex)).toBe(false);
    expect(mayNameSomeone('Yesterday I talked to Okafor about it.', lex)).toBe(true);
    expect(mayNameSomeone('Then Grace said it was fine.', lex)).toBe(true);
    expect(mayNameSomeone('my friend sarah keeps calling', lex)).toBe(true);
    expect(mayNameSomeone('My friend sarah keeps calling.', lex)).toBe(true);
  });

  it('lets the tagger decide names inside the sentences it read, widened by overlapping rules', () => {
    const rules = [finding(0, 12), finding(20, 30, 'EMAIL'), finding(40, 45), finding(60, 66)];
    const combined = combinePersons(rules, { findings: [finding(5, 12)], covered: [{ start: 0, end: 50 }] });
    expect(combined.map((f) => [f.category, f.start, f.end])).toEqual([
      ['EMAIL', 20, 30],
      ['PERSON', 60, 66],
      ['PERSON', 0, 12],
    ]);
  });

  it('counts a weak tagged span only where a rule finding agrees', () => {
    const covered = [{ start: 0, end: 100 }];
    const weak = finding(10, 16, 'PERSON', 0.35);
    expect(combinePersons([], { findings: [weak], covered })).toEqual([]);
    // A rule finding under the rule threshold is no agreement either.
    expect(combinePersons([finding(10, 16, 'PERSON', 0.3)], { findings: [weak], covered })).toEqual([]);
    const agreed = combinePersons([finding(6, 16, 'PERSON', 0.6)], { findings: [weak], covered });
    expect(agreed.map((f) => [f.start, f.end, f.score])).toEqual([[6, 16, 0.6]]);
  });

  it('keeps a titled rule name the tagger missed in a sentence it read, and no introduced one', () => {
    const text = 'Mr. Davis is late again. Hi New York, and thanks.';
    const rules = new PersonDetector().detect(text);
    const at = (word: string) => rules.filter((f) => f.start === text.indexOf(word));
    // The rules' own scores: a known surname after a title is certain; after "Hi" it is not.
    expect(at('Davis')[0]?.score).toBeGreaterThanOrEqual(RULE_CERTAIN);
    expect(at('Mr.')).toHaveLength(1);
    const covered = [{ start: 0, end: text.length }];
    const combined = combinePersons(rules, { findings: [], covered }).filter((f) => f.category === 'PERSON');
    expect(combined.map((f) => text.slice(f.start, f.end)).sort()).toEqual(['Davis', 'Mr.']);
    // A titled name the tagger did find keeps the tagger's span.
    const tagged = { ...finding(4, 9, 'PERSON', 0.8), detector: 'tagger' };
    expect(combinePersons(rules, { findings: [tagged], covered }).filter((f) => f.category === 'PERSON')).toHaveLength(2);
  });

  it('refuses a tagger whose weights are missing or have another sha256', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pixel-rampart-'));
    try {
      await expect(PersonTagger.open(dir)).rejects.toThrow(/model_q4\.onnx is missing \(run scripts\/setup\.sh\)/);
      mkdirSync(path.join(dir, 'onnx'));
      writeFileSync(path.join(dir, 'onnx', 'model_q4.onnx'), 'not the model');
      await expect(verifyRampart(dir)).rejects.toThrow(new RegExp(`has sha256 [0-9a-f]{64}, expected ${RAMPART.onnxSha256}`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the names of cached sentences when a full cache is cleared', async () => {
    const tagger = await PersonTagger.open(undefined, { cacheSize: 1 });
    try {
      const a = 'Last week Marguerite Okafor told me.';
      await tagger.tag([a]);
      const [again, other] = await tagger.tag([a, 'Then Tanvir Haldane called. Later Ifeoma wrote.']);
      expect(textOf(a, again!.findings)).toEqual(['Marguerite Okafor']);
      expect(other!.findings.length).toBeGreaterThanOrEqual(2);
    } finally {
      await tagger.dispose();
    }
  });

  // scripts/setup.sh installs the tagger; without it this test fails with the missing file's path.
  it('tags names behind its cascade, with offsets into the text, and caches by sentence', async () => {
    const tagger = await PersonTagger.open();
    try {
      const text = 'Last week Marguerite Okafor told me the appointment moved to Thursday.';
      const [one] = await tagger.tag([text]);
      expect(textOf(text, one!.findings)).toEqual(['Marguerite Okafor']);
      const long = `${'We talked about sleep and work for a while. '.repeat(40)}Then Marguerite Okafor called.`;
      const plain = 'I could not sleep and everything felt heavy again.';
      const ordinary = 'My therapist suggested Mindfulness and Yoga for the Anxiety.';
      const before = { ...tagger.stats };
      const [tagged, none, words] = await tagger.tag([long, plain, ordinary]);
      expect(textOf(long, tagged!.findings)).toEqual(['Marguerite Okafor']);
      expect(none).toEqual({ findings: [], covered: [] });
      expect(words!.findings).toEqual([]);
      // 43 sentences; two reached the model: the one with a name candidate, and the one where the
      // rules' name lists see a name in a capitalised ordinary word (the tagger then finds none).
      expect(tagger.stats.sentences - before.sentences).toBe(43);
      expect(tagger.stats.tagged - before.tagged).toBe(2);
      await tagger.tag([text]);
      expect(tagger.stats.cacheHits).toBeGreaterThanOrEqual(1);
      // A sentence of 400 characters is read whole (digits and commas are a piece each).
      const digits = `${'1,'.repeat(150)} then Marguerite Okafor called.`;
      const [longOne] = await tagger.tag([digits]);
      expect(textOf(digits, longOne!.findings)).toEqual(['Marguerite Okafor']);
      // A text of 200 name sentences: the first 64 are read, the rest left to the rules.
      const many = Array.from({ length: 200 }, (_, i) => `Then Okafor${String.fromCharCode(97 + (i % 26))} called ${i} times.`).join(' ');
      const capped = tagger.stats.capped;
      const [bounded] = await tagger.tag([many]);
      expect(tagger.stats.capped - capped).toBe(136);
      expect(bounded!.covered).toHaveLength(64);
    } finally {
      await tagger.dispose();
    }
  });

  it('settles without the model a sentence whose only name candidates lie inside other PII', async () => {
    const tagger = await PersonTagger.open();
    try {
      const email = 'You can write to marguerite.okafor@example.org if that is easier.';
      const both = 'Ask Okafor, or write to marguerite.okafor@example.org instead.';
      const before = { ...tagger.stats };
      const [settled, read] = await tagger.tag([email, both]);
      expect(tagger.stats.settledByOtherPii - before.settledByOtherPii).toBe(1);
      expect(tagger.stats.tagged - before.tagged).toBe(1);
      // The settled sentence counts as read: rule names inside it are dropped, titled ones stay.
      expect(settled).toEqual({ findings: [], covered: [{ start: 0, end: email.length }] });
      expect(textOf(both, read!.findings)).toContain('Okafor');
      const rules = new PersonDetector().detect(email);
      expect(combinePersons(rules, settled!).filter((f) => f.category === 'PERSON')).toEqual([]);
    } finally {
      await tagger.dispose();
    }
  });
});
