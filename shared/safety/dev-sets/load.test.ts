import * as path from 'node:path';
import { parsePythonStringList } from '../crisis/cssrs-eval';
import { devDataDir, devFile, readCounselChat, readCssrs, readPresidio } from './load';

// The dev sets are always there in CI (../shared/data); a missing file fails with its path.
describe('dev sets split by group', () => {
  it('puts every C-SSRS user in exactly one part, about half in each', () => {
    const all = readCssrs(devFile('cssrs'), parsePythonStringList);
    const tuning = readCssrs(devFile('cssrs'), parsePythonStringList, 'tuning');
    const report = readCssrs(devFile('cssrs'), parsePythonStringList, 'report');
    expect(all).toHaveLength(500);
    expect(tuning.length + report.length).toBe(500);
    const reportUsers = new Set(report.map((u) => u.user));
    expect(tuning.some((u) => reportUsers.has(u.user))).toBe(false);
    expect(tuning.length).toBeGreaterThan(200);
    expect(report.length).toBeGreaterThan(200);
  });

  it('keeps all answers to one counsel-chat question in one part', () => {
    const parts = new Map<string, Set<string>>();
    for (const a of readCounselChat(devFile('counsel-chat'))) parts.set(a.questionId, (parts.get(a.questionId) ?? new Set()).add(a.split));
    expect(parts.size).toBeGreaterThan(700);
    expect([...parts.values()].every((s) => s.size === 1)).toBe(true);
  });

  it('splits presidio sentences by their place in the file', () => {
    const report = readPresidio(devFile('presidio'), 'report');
    const tuning = readPresidio(devFile('presidio'), 'tuning');
    expect(report.length + tuning.length).toBe(readPresidio(devFile('presidio')).length);
    expect(new Set(report.map((s) => s.index)).size).toBe(report.length);
  });

  it('names the missing folder when the data is not there', () => {
    const saved = process.env.PIXEL_DEV_DATA;
    process.env.PIXEL_DEV_DATA = path.join(devDataDir(), 'no-such-folder');
    try {
      expect(() => devFile('cssrs')).toThrow(/cssrs_reddit_500_users\.csv is missing: set PIXEL_DEV_DATA/);
    } finally {
      if (saved === undefined) delete process.env.PIXEL_DEV_DATA;
      else process.env.PIXEL_DEV_DATA = saved;
    }
  });
});
