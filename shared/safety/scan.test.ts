import { createPiiEngine } from './pii';
import { PersonTagger } from './pii/rampart';
import { scanTextScreened, textOfLine } from './scan';

describe('pixel safety scan with the name tagger', () => {
  // scripts/setup.sh installs the tagger; without it this test fails with the missing file's path.
  it("tags a record's messages one by one: offsets land in the joined text and no name runs across two messages", async () => {
    const tagger = await PersonTagger.open();
    try {
      const line = textOfLine({
        id: 'r',
        source: 's',
        messages: [
          { role: 'user', content: 'Last week I told Marguerite Okafor' },
          { role: 'assistant', content: 'Tanvir Haldane sounds important to you. What happened next?' },
        ],
      });
      if (typeof line === 'string') throw new Error(line);
      const result = await scanTextScreened(line.id, line.text, createPiiEngine(), { persons: tagger }, line.segments);
      const persons = result.pii.filter((p) => p.category === 'PERSON').map((p) => line.text.slice(p.start, p.end));
      expect(persons).toEqual(['Marguerite Okafor', 'Tanvir Haldane']);
      expect(result.redacted).toBe('Last week I told [PERSON_1]\n[PERSON_2] sounds important to you. What happened next?');
    } finally {
      await tagger.dispose();
    }
  });
});
