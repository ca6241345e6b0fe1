import { linkSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { pixelFailure, runPixel, tempDir } from '../helpers';

describe('pixel safety scan', () => {
  const t = tempDir('pixel-cli-safety-');
  afterAll(() => t.cleanup());

  it('writes one line per input line, in order, with errors for bad lines and no early stop, and then fails', async () => {
    const input = path.join(t.dir, 'in.jsonl');
    const output = path.join(t.dir, 'out.jsonl');
    writeFileSync(
      input,
      [
        JSON.stringify({ id: 'a', text: 'Call me on (415) 555-2671, I feel fine.' }),
        '{"id": "broken", "text": "Maria Garcia 415-555-2671"',
        JSON.stringify({ id: 'b' }),
        JSON.stringify({ id: 'c', text: "I'm going to kill myself tonight." }),
        JSON.stringify({
          id: 'd',
          source: 's',
          messages: [
            { role: 'user', content: 'I am Maria Garcia, this is shit' },
            { role: 'assistant', content: 'Hello, that is shit' },
          ],
        }),
      ].join('\n'),
    );
    const { stdout, stderr, code } = await pixelFailure(['safety', 'scan', '--input', input, '--output', output]);
    expect(code).toBe(1);
    expect(stdout).toContain('scanned 5 lines');
    expect(stderr.trim()).toBe(`pixel: 2 of 5 lines could not be scanned (their error lines are in ${output})`);
    const lines = readFileSync(output, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatchObject({
      id: 'a',
      crisis: { severity: 'NONE' },
      pii: [{ category: 'PHONE', start: 11, end: 25 }],
      redacted: 'Call me on [PHONE_1], I feel fine.',
    });
    expect(lines[1]).toMatchObject({ line: 2, error: expect.stringContaining('malformed JSON') });
    // The error names where, never what: the broken line's text stays out of the output.
    expect(JSON.stringify(lines[1])).not.toMatch(/Maria|2671/);
    expect(statSync(output).mode & 0o777).toBe(0o600);
    expect(lines[2]).toMatchObject({ line: 3, id: 'b', error: expect.stringContaining('text') });
    expect(lines[3]).toMatchObject({ id: 'c', crisis: { severity: 'IMMINENT', protocol: 'emergency' } });
    // Gates per speaker: the user's swearing is INFO, the assistant's is an ERROR, at its own offset.
    expect(lines[4]).toMatchObject({
      id: 'd',
      pii: [{ category: 'PERSON' }],
      gates: [
        { gate: 'profanity', severity: 'INFO', start: 27 },
        { gate: 'profanity', severity: 'ERROR', start: 47 },
      ],
    });
  });

  it('scans one text with --text', async () => {
    const { stdout } = await runPixel(['safety', 'scan', '--text', 'SSN 123-45-6789']);
    expect(JSON.parse(stdout)).toMatchObject({ pii: [{ category: 'US_SSN', start: 4, end: 15 }], redacted: 'SSN [US_SSN_1]' });
  });

  it('finds names with the learned tagger by default, and with the rules alone under --rules-only', async () => {
    const text = 'Yesterday Tanvir Haldane yelled at me again.';
    const learned = JSON.parse((await runPixel(['safety', 'scan', '--text', text])).stdout) as { redacted: string };
    expect(learned.redacted).toBe('Yesterday [PERSON_1] yelled at me again.');
    const rules = JSON.parse((await runPixel(['safety', 'scan', '--text', text, '--rules-only'])).stdout) as { redacted: string; crisis: object };
    expect(rules.redacted).toBe(text);
    expect(rules.crisis).toMatchObject({ screened: false });
  });

  it('never destroys a file: refuses the input as its output, and leaves an existing output alone when it fails', async () => {
    const input = path.join(t.dir, 'same.jsonl');
    const line = `${JSON.stringify({ id: 'a', text: 'hello' })}\n`;
    writeFileSync(input, line);
    for (const output of [input, path.join(t.dir, '.', 'same.jsonl')]) {
      const err = await pixelFailure(['safety', 'scan', '--rules-only', '--input', input, '--output', output]);
      expect(err.code).toBe(1);
      expect(err.stderr.trim()).toBe(`pixel: output ${output} is the input: give another file (the input is never overwritten)`);
    }
    const link = path.join(t.dir, 'link.jsonl');
    linkSync(input, link);
    expect((await pixelFailure(['safety', 'scan', '--rules-only', '--input', input, '--output', link])).stderr).toContain('is the input');
    expect(readFileSync(input, 'utf8')).toBe(line);
    // A mistyped input: the existing output keeps its content, and no temporary file is left.
    const output = path.join(t.dir, 'kept.jsonl');
    writeFileSync(output, 'earlier results\n');
    const missing = await pixelFailure(['safety', 'scan', '--rules-only', '--input', path.join(t.dir, 'nope.jsonl'), '--output', output]);
    expect(missing.stderr.trim()).toBe(`pixel: cannot read input ${path.join(t.dir, 'nope.jsonl')}: it does not exist`);
    expect(readFileSync(output, 'utf8')).toBe('earlier results\n');
    // An output folder that cannot be written: one clear line, no stack trace.
    const unwritable = await pixelFailure([
      'safety',
      'scan',
      '--rules-only',
      '--input',
      input,
      '--output',
      path.join(t.dir, 'no', 'such', 'out.jsonl'),
    ]);
    expect(unwritable.stderr.trim().split('\n')).toHaveLength(1);
    expect(unwritable.stderr).toMatch(/^pixel: cannot write .*ENOENT/);
    expect(readdirSync(t.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // Success renames the finished file into place.
    const good = await runPixel(['safety', 'scan', '--rules-only', '--input', input, '--output', output]);
    expect(good.stdout).toContain('scanned 1 lines');
    expect(JSON.parse(readFileSync(output, 'utf8'))).toMatchObject({ id: 'a', redacted: 'hello' });
  });

  it('says what is missing when given neither input nor text', async () => {
    const err = await pixelFailure(['safety', 'scan']);
    expect(err.code).toBe(1);
    expect(err.stderr).toContain('give --input and --output, or --text');
  });
});
