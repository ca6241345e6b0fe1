import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Finding } from '../types';
import { combinePersons, normaliseForBert, openRampart, personSpans, RAMPART } from './rampart';

const finding = (start: number, end: number, category = 'PERSON'): Finding => ({
  category,
  start,
  end,
  score: 0.7,
  detector: 'rules',
  explanation: '',
});

describe('Rampart person spans', () => {
  it('maps the normalised text back to the original characters', () => {
    const { norm, map } = normaliseForBert('Zoë Ávila');
    expect(norm).toBe('zoe avila');
    expect(map[2]).toBe(2);
    expect(map[4]).toBe(4);
  });

  it('joins given name and surname, continues word pieces, and ignores other labels', () => {
    const text = "Call Anneke van Dijk-O'Hare at 5.";
    const pieces = ['[CLS]', 'call', 'ann', '##eke', 'van', 'dijk', '-', 'o', "'", 'hare', 'at', '5', '.', '[SEP]'];
    const given = { entity: 'B-GIVEN_NAME', score: 0.9 };
    const surname = { entity: 'B-SURNAME', score: 0.8 };
    const labels = [
      undefined,
      undefined,
      given,
      given,
      surname,
      surname,
      surname,
      surname,
      surname,
      surname,
      undefined,
      { entity: 'B-PHONE', score: 0.9 },
    ];
    const spans = personSpans(text, pieces, labels);
    expect(spans.map((s) => text.slice(s.start, s.end))).toEqual(["Anneke van Dijk-O'Hare"]);
    expect(spans[0]!.score).toBeCloseTo((0.9 + 6 * 0.8) / 7, 5);
    expect(spans[0]!.explanation).not.toContain('Anneke');
  });

  it('keeps two names apart when words come between them', () => {
    const text = 'Ines and Tomas';
    const name = { entity: 'B-GIVEN_NAME', score: 0.9 };
    expect(personSpans(text, ['[CLS]', 'ines', 'and', 'tomas'], [undefined, name, undefined, name]).map((s) => text.slice(s.start, s.end))).toEqual([
      'Ines',
      'Tomas',
    ]);
  });

  it('widens a tagged name with the rules that overlap it, and keeps other categories', () => {
    const combined = combinePersons([finding(0, 12), finding(20, 30, 'EMAIL'), finding(40, 45)], [finding(5, 12)]);
    expect(combined.map((f) => [f.category, f.start, f.end])).toEqual([
      ['EMAIL', 20, 30],
      ['PERSON', 0, 12],
    ]);
  });

  it('refuses a tagger whose weights have another sha256', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pixel-rampart-'));
    try {
      await expect(openRampart(dir)).rejects.toThrow(/model_q4\.onnx is missing \(run scripts\/setup\.sh\)/);
      mkdirSync(path.join(dir, 'onnx'));
      writeFileSync(path.join(dir, 'onnx', 'model_q4.onnx'), 'not the model');
      await expect(openRampart(dir)).rejects.toThrow(new RegExp(`has sha256 [0-9a-f]{64}, expected ${RAMPART.onnxSha256}`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // scripts/setup.sh installs the tagger; without it this test fails with the missing file's path.
  it('tags names in a sentence of its own, with offsets into the text', async () => {
    const tagger = await openRampart();
    try {
      const text = 'Last week Marguerite Okafor told me the appointment moved to Thursday.';
      const spans = await tagger.persons(text);
      expect(spans.map((s) => text.slice(s.start, s.end))).toEqual(['Marguerite Okafor']);
      const long = `${'We talked about sleep and work for a while. '.repeat(40)}Then Marguerite Okafor called.`;
      expect((await tagger.persons(long)).map((s) => long.slice(s.start, s.end))).toEqual(['Marguerite Okafor']);
    } finally {
      await tagger.dispose();
    }
  });
});
