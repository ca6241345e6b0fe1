import { createReadStream, existsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { sharedData, tempDir } from '../../../test/helpers';
import { LocalArtifactStore } from '../../artifacts';
import { PrepareConfigSchema } from '../../contracts';
import { prepareDataset } from '../prepare-dataset';
import { counselChatRowToRecord, readCounselChatSource } from './counsel-chat';
import type { SourceItem } from './types';

/** Every item the reader yields for a file, in order. */
async function readItems(file: string): Promise<SourceItem[]> {
  const items: SourceItem[] = [];
  for await (const item of readCounselChatSource(createReadStream(file), file)) items.push(item);
  return items;
}

const HEADER = ',questionID,questionTitle,questionText,questionLink,topic,therapistInfo,therapistURL,answerText,upvotes,views,split';

describe('counselChatRowToRecord', () => {
  const row = {
    '': '4',
    questionID: '12',
    questionTitle: 'Feeling stuck',
    questionText: 'I cannot get going in the mornings.',
    questionLink: 'https://example.org/q/12',
    topic: 'depression',
    therapistInfo: 'Jane Doe, LCSW',
    therapistURL: 'https://example.org/t/jane',
    answerText: 'It sounds like mornings are hard.',
    upvotes: '3',
    views: '120',
    split: 'train',
  };

  it('maps title + text to the user turn and the answer to the assistant turn', () => {
    const record = counselChatRowToRecord(row);
    if (typeof record === 'string') throw new Error(record);
    expect(record.id).toBe('counsel-chat:12:4');
    expect(record.groupId).toBe('counsel-chat:q12');
    expect(record.topic).toBe('depression');
    expect(record.messages).toEqual([
      { role: 'user', content: 'Feeling stuck\n\nI cannot get going in the mornings.' },
      { role: 'assistant', content: 'It sounds like mornings are hard.' },
    ]);
    expect(record.metadata).toMatchObject({ upvotes: 3, views: 120, originalSplit: 'train', questionId: '12' });
  });

  it('leaves the therapist name out of the record', () => {
    expect(JSON.stringify(counselChatRowToRecord(row))).not.toContain('Jane Doe');
  });

  it('does not repeat a title the text already starts with', () => {
    const record = counselChatRowToRecord({ ...row, questionText: 'Feeling stuck and tired' });
    if (typeof record === 'string') throw new Error(record);
    expect(record.messages[0]?.content).toBe('Feeling stuck and tired');
  });

  it('names missing columns', () => {
    const { answerText: _a, ...rest } = row;
    expect(counselChatRowToRecord(rest)).toBe('missing column(s): answerText');
  });
});

describe('counsel-chat source', () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => {
    t = tempDir();
  });
  afterEach(() => t.cleanup());

  it('quarantines malformed rows and empty answers with their line numbers', async () => {
    const file = path.join(t.dir, 'cc.csv');
    writeFileSync(
      file,
      [
        HEADER,
        '0,1,T1,"Q one, with comma",l,anxiety,i,u,"Answer one",1,10,train', // line 2
        '1,2,T2,"Q two\nspanning lines",l,grief,i,u,"Answer two",0,5,val', // lines 3-4
        '2,3,T3,Q3,l,grief,i,u', // line 5: too few columns
        '3,4,T4,Q4,l,sleep,i,u,"",0,1,test', // line 6: empty answer
        '4,5,T5,Q5,l,sleep,i,u,A5,0,1,test', // line 7
      ].join('\n'),
    );
    const store = new LocalArtifactStore(path.join(t.dir, 'store'));
    const items = await readItems(file);
    expect(items.map((i) => [i.line, i.kind])).toEqual([
      [2, 'value'],
      [3, 'value'],
      [5, 'rejected'],
      [6, 'value'],
      [7, 'value'],
    ]);
    const config = PrepareConfigSchema.parse({ source: { kind: 'counsel-chat', uri: file } });
    const result = await prepareDataset({ config, store });
    expect(result.counts.byReason).toEqual({ malformed_csv: 1, schema_violation: 1 });
    expect(result.counts.accepted).toBe(3);
  });

  it('quarantines a row whose open quote swallowed the rows after it, instead of merging them silently', async () => {
    const file = path.join(t.dir, 'open-quote.csv');
    writeFileSync(
      file,
      [
        HEADER,
        '0,1,T1,Q1,l,anxiety,i,u,"Answer one with a quote left open,1,10,train', // line 2, swallows line 3
        '1,2,T2,Q2,l,grief,i,u,"Answer two",0,5,val', // line 3
        '2,3,T3,Q3,l,grief,i,u,"Answer three\n12 steps, 3 times a day,\nthen rest",0,5,val', // lines 4-6: a real line break (near miss)
        '3,4,T4,Q4,l,sleep,i,u,"Answer four",0,1,test', // line 7
      ].join('\n'),
    );
    const items = await readItems(file);
    expect(items.map((i) => [i.line, i.kind])).toEqual([
      [2, 'rejected'],
      [4, 'value'],
      [7, 'value'],
    ]);
    expect(items[0]).toMatchObject({
      reason: 'malformed_csv',
      detail: 'a quoted field runs on into the next row (a quote left open?): lines 2-3 are kept here as one record',
    });
    // Nothing is lost: the quarantine keeps both rows' text.
    expect((items[0] as { raw: string }).raw).toContain('Answer two');
  });

  it('refuses a CSV that is not counsel-chat, naming the missing columns', async () => {
    const file = path.join(t.dir, 'other.csv');
    writeFileSync(file, 'a,b\n1,2\n');
    const store = new LocalArtifactStore(path.join(t.dir, 'store'));
    const config = PrepareConfigSchema.parse({ source: { kind: 'counsel-chat', uri: file } });
    await expect(prepareDataset({ config, store })).rejects.toThrow(/not the counsel-chat CSV: header lacks questionID/);
  });

  const real = sharedData('counsel_chat.csv');
  (existsSync(real) ? it : it.skip)('imports the real counsel-chat file without losing a row', async () => {
    const store = new LocalArtifactStore(path.join(t.dir, 'store'));
    const result = await prepareDataset({ config: PrepareConfigSchema.parse({ source: { kind: 'counsel-chat', uri: real } }), store });
    expect(result.counts.read).toBe(2129);
    expect(result.counts.accepted + result.counts.quarantined).toBe(2129);
    expect(result.counts.accepted).toBeGreaterThan(2000);
    expect(Object.keys(result.counts.byTopic).length).toBeGreaterThan(10);
  });
});
