import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { parsePythonStringList } from '../crisis/cssrs-eval';
import { devFile, readCounselChat, readCssrs, readPresidio } from './load';

/**
 * No string from a report part may reach the safety code, its lexicons or its tests: figures on
 * the report part are only worth quoting if nothing was fitted to it. This scans Pixel's
 * sources for word 7-grams of the C-SSRS report posts and for multi-word entity values of
 * presidio's report sentences. A 7-gram that also occurs in independent text (the C-SSRS tuning
 * part or counsel-chat) is ordinary English ("there is no right or wrong way"), not a copy.
 */
const ROOT = path.resolve(__dirname, '..', '..', '..');
const SCANNED = ['shared', 'scripts', 'test', 'activities', 'workflows', 'client', 'review-ui'];
const SKIP = new Set(['node_modules', 'dist', '.pixel', '__histories__']);

function* sources(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) yield* sources(file);
    else if (/\.(?:ts|yaml|yml|json|js|html)$/.test(name)) yield file;
  }
}

const normalise = (text: string): string[] =>
  text
    .toLowerCase()
    .replace(/['’`]/g, '')
    .split(/[^a-z0-9]+/)
    .filter(Boolean);

function grams(words: readonly string[], n: number, into: Set<string>): void {
  for (let i = 0; i + n <= words.length; i++) into.add(words.slice(i, i + n).join(' '));
}

// The dev sets are always there in CI (../shared/data); a missing file fails with its path.
describe('report parts stay out of the code', () => {
  const files = SCANNED.flatMap((d) => [...sources(path.join(ROOT, d))]).filter((f) => !f.endsWith('leak.test.ts'));

  it('has no 7-word run of a C-SSRS report post in any source file', () => {
    const report = new Set<string>();
    for (const user of readCssrs(devFile('cssrs'), parsePythonStringList, 'report')) {
      for (const post of user.posts ?? [user.raw]) grams(normalise(post), 7, report);
    }
    const ordinary = new Set<string>();
    for (const user of readCssrs(devFile('cssrs'), parsePythonStringList, 'tuning')) {
      for (const post of user.posts ?? [user.raw]) grams(normalise(post), 7, ordinary);
    }
    for (const answer of readCounselChat(devFile('counsel-chat'))) {
      grams(normalise(`${answer.questionText} ${answer.answerText}`), 7, ordinary);
    }
    for (const g of ordinary) report.delete(g);
    expect(report.size).toBeGreaterThan(100_000);
    const leaks: string[] = [];
    for (const file of files) {
      const found = new Set<string>();
      grams(normalise(readFileSync(file, 'utf8')), 7, found);
      // Name the file and count the runs; never print the text itself.
      const n = [...found].filter((g) => report.has(g)).length;
      if (n > 0) leaks.push(`${path.relative(ROOT, file)}: ${n}`);
    }
    expect(leaks).toEqual([]);
  });

  it('has no multi-word PII value of a presidio report sentence in any source file', () => {
    const values = new Set<string>();
    for (const sample of readPresidio(devFile('presidio'), 'report')) {
      for (const span of sample.spans) {
        const value = sample.full_text.slice(span.start_position, span.end_position).trim();
        if (value.length >= 8 && /\s/.test(value)) values.add(value);
      }
    }
    expect(values.size).toBeGreaterThan(500);
    const leaks: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      const n = [...values].filter((v) => text.includes(v)).length;
      if (n > 0) leaks.push(`${path.relative(ROOT, file)}: ${n}`);
    }
    expect(leaks).toEqual([]);
  });
});
