import { existsSync, statSync } from 'node:fs';
import { ConversationRecordSchema } from '../../contracts';
import { generateConversation, generateConversations, type PlantedPii } from './generator';
import { writeSyntheticJsonl } from './write';
import { luhnValid } from '../../safety/validators';
import { CRISIS_TYPES } from '../../contracts/crisis';

const options = { seed: 7, crisisShare: 0.1, piiShare: 0.15 };

describe('synthetic generator', () => {
  it('is deterministic for a seed and index', () => {
    expect(JSON.stringify(generateConversation(123, options))).toBe(JSON.stringify(generateConversation(123, options)));
  });

  it('gives a different conversation for another seed', () => {
    expect(JSON.stringify(generateConversation(123, { ...options, seed: 8 }).messages)).not.toBe(
      JSON.stringify(generateConversation(123, options).messages),
    );
  });

  it('makes a small run a prefix of a larger one', () => {
    const small = [...generateConversations(50, options)];
    const large = [...generateConversations(200, options)];
    expect(small).toEqual(large.slice(0, 50));
  });

  it('writes valid records with user and assistant turns', () => {
    for (const record of generateConversations(2000, options)) {
      const parsed = ConversationRecordSchema.parse(record);
      expect(parsed.messages.some((m) => m.role === 'user')).toBe(true);
      expect(parsed.messages.some((m) => m.role === 'assistant')).toBe(true);
    }
  });

  it('honours the crisis and PII shares and covers every crisis type', () => {
    const records = [...generateConversations(10_000, { seed: 1, crisisShare: 0.2, piiShare: 0.3 })];
    const crisis = records.filter((r) => r.labels?.includes('crisis'));
    const pii = records.filter((r) => r.labels?.includes('pii'));
    expect(crisis.length / records.length).toBeGreaterThan(0.18);
    expect(crisis.length / records.length).toBeLessThan(0.22);
    expect(pii.length / records.length).toBeGreaterThan(0.28);
    expect(pii.length / records.length).toBeLessThan(0.32);
    const types = new Set(crisis.map((r) => (r.metadata?.crisis as { type: string }).type));
    expect([...types].sort()).toEqual([...CRISIS_TYPES].sort());
    expect(new Set(records.map((r) => r.topic)).size).toBeGreaterThanOrEqual(8);
  });

  it('has no crisis or PII when the shares are 0', () => {
    const records = [...generateConversations(2000, { seed: 1, crisisShare: 0, piiShare: 0 })];
    expect(records.every((r) => JSON.stringify(r.labels) === JSON.stringify(['crisis:none']))).toBe(true);
  });

  it('plants PII exactly as recorded, with Luhn-valid cards', () => {
    const records = [...generateConversations(5000, { seed: 3, crisisShare: 0, piiShare: 1 })];
    const types = new Set<string>();
    for (const r of records) {
      const planted = r.metadata?.pii as PlantedPii[];
      const text = r.messages.map((m) => m.content).join('\n');
      for (const p of planted) {
        types.add(p.type);
        expect(text).toContain(p.value);
        if (p.type === 'CREDIT_CARD') expect(luhnValid(p.value)).toBe(true);
        if (p.type === 'US_SSN') expect(p.value).toMatch(/^(?!000|666|9)\d{3}-(?!00)\d{2}-(?!0000)\d{4}$/);
      }
    }
    expect(types.size).toBeGreaterThanOrEqual(7);
  });

  it('makes crisis replies follow the protocol (crisis line, safety question)', () => {
    const records = [...generateConversations(3000, { seed: 5, crisisShare: 1, piiShare: 0 })];
    for (const r of records) {
      const reply = r.messages.find((m) => m.role === 'assistant')?.content ?? '';
      expect(reply).toMatch(/988|crisis line|emergency/);
      expect(reply).toMatch(/\?/);
    }
  });

  it('rarely repeats a conversation exactly', () => {
    const seen = new Set<string>();
    let duplicates = 0;
    for (const r of generateConversations(20_000, options)) {
      const key = JSON.stringify(r.messages);
      if (seen.has(key)) duplicates += 1;
      seen.add(key);
    }
    expect(duplicates / 20_000).toBeLessThan(0.01);
  });
});

describe('writeSyntheticJsonl', () => {
  (existsSync('/dev/full') ? it : it.skip)('fails when the disk is full instead of reporting success', async () => {
    await expect(writeSyntheticJsonl('/dev/full', 50, options)).rejects.toThrow(/disk is full/);
    // Written in place: the device is still a device.
    expect(statSync('/dev/full').isCharacterDevice()).toBe(true);
  });
});
