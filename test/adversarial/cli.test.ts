/**
 * Adversarial suite, command line: every input path of the `pixel` CLI fed hostile input
 * (huge, deeply nested, binary, not UTF-8, devices and pipes that never end, pathological text
 * for the detectors, catastrophic regular expressions, YAML alias bombs, path traversal, damaged
 * model files). Each command runs as a person would run it (`node bin/pixel.js`), and must end
 * within a bound, exit non-zero where it failed, say why in one line beginning `pixel:`, print
 * no stack trace, and never echo the input's text (every hostile file carries a canary string).
 * `npm run test:adversarial` runs this file and the review API's.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const PIXEL = path.join(ROOT, 'bin', 'pixel.js');
/** In every hostile input; must never appear in what a command prints. */
const CANARY = 'zzCANARYzz';
/** Longest a command may take on hostile input, start-up (~2 s) included, on a busy 2-core machine. */
const BOUND_MS = 45_000;

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
  stdout: string;
  stderr: string;
}

let t: ReturnType<typeof tempDir>;
let dir: string;
const f = (name: string) => path.join(dir, name);

function pixel(args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [PIXEL, ...args],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: BOUND_MS,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        env: {
          ...process.env,
          PIXEL_HOME: f('home'),
          PIXEL_ARTIFACTS: f('home/artifacts'),
          // Nothing listens there: commands that would reach Temporal must fail before or at it, clearly.
          PIXEL_TEMPORAL_ADDRESS: '127.0.0.1:9',
          PIXEL_REVIEW_SECRET: 'adversarial-secret-0123456789',
          ...env,
        },
      },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number | string; signal?: NodeJS.Signals }) | null;
        resolve({
          code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
          signal: e?.signal ?? null,
          ms: Date.now() - started,
          stdout,
          stderr,
        });
      },
    );
  });
}

/** The common promise: bounded, failed with one clear `pixel:` line, no stack, no canary. */
function expectClearFailure(o: Outcome, reason: RegExp): void {
  const lines = o.stderr.split('\n').filter((l) => l.trim() !== '');
  const summary = { code: o.code, signal: o.signal, last: lines.at(-1) ?? '' };
  expect(summary).toEqual({ code: 1, signal: null, last: expect.stringMatching(/^pixel: \S/) });
  expect(summary.last).toMatch(reason);
  expect(o.ms).toBeLessThan(BOUND_MS);
  expect(lines.filter((l) => /^\s+at /.test(l))).toEqual([]);
  expect(lines.length).toBeLessThanOrEqual(25);
  expect(`${o.stdout}\n${o.stderr}`).not.toContain(CANARY);
}

const record = (content: string) =>
  JSON.stringify({
    messages: [
      { role: 'user', content },
      { role: 'assistant', content: 'I hear you.' },
    ],
  });

beforeAll(() => {
  t = tempDir('pixel-adversarial-');
  dir = t.dir;
  mkdirSync(f('out'), { recursive: true });
  writeFileSync(f('deep.json'), `${'['.repeat(200_000)}${']'.repeat(200_000)}`);
  writeFileSync(f('deep.jsonl'), `${record(`hello ${CANARY}`).replace('}]', '}],"metadata":' + '['.repeat(100_000) + ']'.repeat(100_000))}\n`);
  const binary = Buffer.alloc(300_000);
  let x = 12345;
  for (let i = 0; i < binary.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    binary[i] = x >>> 24;
  }
  binary.write(CANARY, 1000);
  writeFileSync(f('binary.bin'), binary);
  writeFileSync(
    f('latin1.jsonl'),
    Buffer.concat([Buffer.from(`{"messages":[{"role":"user","content":"caf`), Buffer.from([0xe9]), Buffer.from(` ${CANARY}"}]}\n`)]),
  );
  writeFileSync(f('hugeline.jsonl'), `${record(`${'x'.repeat(3_000_000)} ${CANARY}`)}\n`);
  writeFileSync(f('big.json'), `{"a":"${CANARY}${'y'.repeat(6_000_000)}"}`);
  writeFileSync(f('bad.json'), `{"data": "${CANARY}`);
  writeFileSync(f('canary-value.json'), JSON.stringify({ runName: `${CANARY} with spaces` }));
  // Unpunctuated crisis language, the input that once made the crisis detector quadratic.
  writeFileSync(f('unpunctuated.jsonl'), `${JSON.stringify({ id: 'u', text: `${'I want to kill myself '.repeat(45_000)}${CANARY}` })}\n`);
  writeFileSync(
    f('redos.yaml'),
    `- name: Evil${CANARY}\n  categories: [EMAIL]\n  patterns:\n    - name: evil\n      regex: "(a+)+$"\n      score: 0.5\n`,
  );
  const aliases = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (const [name, prev] of [...'bcdefghi'].map((c, i) => [c, 'abcdefgh'[i]]))
    aliases.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
  writeFileSync(f('bomb.yaml'), `${aliases.join('\n')}\n`);
  writeFileSync(
    f('csv-unclosed.csv'),
    `questionID,questionTitle,questionText,questionLink,topic,therapistInfo,therapistURL,answerText,upvotes,views\n1,"t","${CANARY}${'q'.repeat(2_000_000)}`,
  );
  // GGUF headers that claim more than any file holds.
  const gguf = (...parts: Buffer[]) => Buffer.concat([Buffer.from('GGUF'), ...parts]);
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  const u64 = (n: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(n);
    return b;
  };
  writeFileSync(f('huge-counts.gguf'), gguf(u32(3), u64(2n ** 62n), u64(2n ** 62n)));
  writeFileSync(f('huge-string.gguf'), gguf(u32(3), u64(0n), u64(1n), u64(2n ** 60n), Buffer.from(CANARY)));
  writeFileSync(f('truncated.gguf'), gguf(u32(3)));
  mkdirSync(f('model-huge'), { recursive: true });
  writeFileSync(
    f('model-huge/config.json'),
    JSON.stringify({ model_type: 'llama', vocab_size: 1e8, hidden_size: 1e9, intermediate_size: 10, num_hidden_layers: 1e5, num_attention_heads: 2 }),
  );
  mkdirSync(f('model-deep'), { recursive: true });
  writeFileSync(f('model-deep/config.json'), readFileSync(f('deep.json')));
  // Annotations whose item ids try to leave the store, beside binary and deep lines.
  writeFileSync(
    f('annotations.jsonl'),
    [
      JSON.stringify({
        itemId: '../../../etc/passwd',
        annotator: 'x',
        rubric: { clinicalAccuracy: 3, empathy: 3, safety: 3 },
        safetyLabel: 'safe',
        comment: CANARY,
      }),
      `${'['.repeat(50_000)}${']'.repeat(50_000)}`,
    ].join('\n'),
  );
  execFileSync('mkfifo', [f('fifo')]);
});

afterAll(() => t?.cleanup());

/** Files that are not readable text inputs, and what each must be called. */
const NOT_FILES: [string, RegExp][] = [
  ['/dev/zero', /not a regular file/],
  ['fifo', /not a regular file/],
  ['missing.json', /does not exist/],
  ['.', /it is a folder/],
];
const at = (name: string) => (name.startsWith('/') ? name : f(name));

describe('pixel run / pixel dev / pixel schedule create: the pipeline input', () => {
  it.concurrent.each([
    ...NOT_FILES.map(([file, reason]) => [`--input-file ${file}`, ['--input-file', file], reason] as const),
    ['a file over 4 MB', ['--input-file', 'big.json'], /larger than 4 MB/],
    ['binary', ['--input-file', 'binary.bin'], /not UTF-8 text \(first bad byte at offset \d+\)/],
    ['nested 200,000 deep', ['--input-file', 'deep.json'], /pipeline input: \(root\): Invalid input: expected object/],
    ['broken JSON', ['--input-file', 'bad.json'], /is not valid JSON/],
    ['broken inline JSON', ['--input', `{"x": "${CANARY}`], /--input is not valid JSON/],
    ['a bad value', ['--input-file', 'canary-value.json'], /pipeline input: runName/],
  ] as const)('refuses %s before reaching Temporal', async (_what, args, reason) => {
    const resolved = args.map((a, i) => (i === 1 && args[0] === '--input-file' ? at(a) : a));
    expectClearFailure(await pixel(['run', ...resolved]), reason);
    // The nightly schedule stores the same input: checked the same way, before connecting.
    expectClearFailure(await pixel(['schedule', 'create', ...resolved]), reason);
  });

  it('names Temporal when the input is good but nothing listens', async () => {
    expectClearFailure(await pixel(['run', '--input', '{}']), /cannot reach Temporal at 127\.0\.0\.1:9/);
    expectClearFailure(await pixel(['schedule', 'create', '--input', '{}']), /cannot reach Temporal at 127\.0\.0\.1:9/);
  });
});

describe('pixel sweep: the sweep input and sweep ids', () => {
  it.concurrent.each([
    ...NOT_FILES.map(([file, reason]) => [`--input-file ${file}`, ['--input-file', file], reason] as const),
    ['a file over 4 MB', ['--input-file', 'big.json'], /larger than 4 MB/],
    ['binary', ['--input-file', 'binary.bin'], /not UTF-8 text \(first bad byte at offset \d+\)/],
    ['nested 200,000 deep', ['--input-file', 'deep.json'], /sweep input: \(root\): Invalid input: expected object/],
    ['broken inline JSON', ['--input', `{"x": "${CANARY}`], /--input is not valid JSON/],
    ['a pipeline value, nested', ['--input', JSON.stringify({ pipeline: { runName: `${CANARY} with spaces` } })], /sweep input: pipeline\.runName/],
    [
      // A setting's name is named, as unknown fields are, but quoted and bounded: control characters arrive escaped.
      'an unknown setting in the space',
      ['--input', JSON.stringify({ space: { 'learning\u0007rate': { type: 'float', low: 0, high: 1 } } })],
      /space\."learning\\u0007rate": is not a sweepable setting/,
    ],
    [
      'a space the training config refuses',
      ['--input', '{"space":{"warmupSteps":{"type":"int","low":0,"high":1000}}}'],
      /space: every parameter at its high end/,
    ],
    ["the sweep's own state", ['--input', '{"state":{"trials":[],"asha":{},"budget":1,"continued":0}}'], /state is set by the sweep itself/],
  ] as const)('start refuses %s before reaching Temporal', async (_what, args, reason) => {
    const resolved = args.map((a, i) => (i === 1 && args[0] === '--input-file' ? at(a) : a));
    expectClearFailure(await pixel(['sweep', 'start', ...resolved]), reason);
  });

  it('names Temporal when the input is good but nothing listens, and refuses ids that are not ids', async () => {
    expectClearFailure(await pixel(['sweep', 'start', '--input', '{}']), /cannot reach Temporal at 127\.0\.0\.1:9/);
    for (const command of ['status', 'stop', 'best'])
      expectClearFailure(await pixel(['sweep', command, `../${CANARY}/x y`]), /a sweep id holds only letters/);
  });
});

describe('pixel data prepare / augment: conversation files', () => {
  it.concurrent.each([...NOT_FILES.map(([file, reason]) => [file, reason] as const)])('prepare refuses %s', async (file, reason) => {
    expectClearFailure(await pixel(['data', 'prepare', at(file), '--no-cache']), reason);
  });

  it.concurrent.each([
    ['deep.jsonl', /no records accepted: .*too_deep/],
    ['binary.bin', /no records accepted: .*invalid_utf8/],
    ['latin1.jsonl', /no records accepted: .*invalid_utf8/],
    ['hugeline.jsonl', /no records accepted: .*line_too_long/],
  ])('prepare quarantines every line of %s with its reason and exits 1', async (file, reason) => {
    expectClearFailure(await pixel(['data', 'prepare', f(file), '--no-cache']), reason);
  });

  it('prepare quarantines a counsel-chat CSV whose quote never closes', async () => {
    expectClearFailure(await pixel(['data', 'prepare', f('csv-unclosed.csv'), '--kind', 'counsel-chat', '--no-cache']), /malformed_csv/);
  });

  it('prepare names an artifact store it cannot write', async () => {
    expectClearFailure(
      await pixel(['data', 'prepare', f('latin1.jsonl'), '--no-cache', '--artifacts', f('canary-value.json/store')]),
      /a part of its path is not a folder/,
    );
    expectClearFailure(await pixel(['data', 'prepare', f('latin1.jsonl'), '--no-cache', '--artifacts', '/proc/self']), /cannot live under \/proc/);
  });

  it.concurrent.each([
    ...NOT_FILES,
    ['binary.bin', /no valid conversation records/],
    ['latin1.jsonl', /no valid conversation records/],
    ['deep.jsonl', /no valid conversation records/],
    ['hugeline.jsonl', /no valid conversation records/],
  ])('augment refuses %s', async (file, reason) => {
    const out = f(`out/augment-${path.basename(file)}.jsonl`);
    writeFileSync(out, 'earlier output\n');
    expectClearFailure(await pixel(['data', 'augment', at(file), '--out', out]), reason);
    // The output it was asked to write is untouched by a failure.
    expect(readFileSync(out, 'utf8')).toBe('earlier output\n');
  });

  it('augment refuses a deep or unknown --config, naming the field', async () => {
    expectClearFailure(
      await pixel(['data', 'augment', f('latin1.jsonl'), '--out', f('out/a.jsonl'), '--config', `${'['.repeat(50_000)}`]),
      /--config is not valid JSON/,
    );
    expectClearFailure(
      await pixel(['data', 'augment', f('latin1.jsonl'), '--out', f('out/a.jsonl'), '--config', JSON.stringify({ seed: CANARY })]),
      /--config: seed/,
    );
  });

  it('generate names an output it cannot write and leaves no partial file', async () => {
    expectClearFailure(await pixel(['data', 'generate', '--out', f('out'), '--count', '10']), /cannot write output .*it is a folder/);
    expectClearFailure(await pixel(['data', 'generate', '--out', f('canary-value.json/x.jsonl'), '--count', '10']), /in the way|not a folder/);
    // A device is written in place, never renamed over.
    if (existsSync('/dev/full')) {
      expectClearFailure(
        await pixel(['data', 'generate', '--out', '/dev/full', '--count', '100']),
        /cannot write output \/dev\/full: the disk is full/,
      );
      expect(statSync('/dev/full').isCharacterDevice()).toBe(true);
    }
  });
});

describe('pixel safety scan: texts and detector files', () => {
  it.concurrent.each([...NOT_FILES.map(([file, reason]) => [file, reason] as const)])('refuses input %s', async (file, reason) => {
    expectClearFailure(await pixel(['safety', 'scan', '--rules-only', '--input', at(file), '--output', f('out/scan.jsonl')]), reason);
  });

  it.concurrent.each([
    ['binary.bin', /lines could not be scanned/],
    ['latin1.jsonl', /1 of 1 lines could not be scanned/],
    ['deep.jsonl', /1 of 1 lines could not be scanned/],
  ])('writes an error line for every bad line of %s and exits 1', async (file, reason) => {
    expectClearFailure(await pixel(['safety', 'scan', '--rules-only', '--input', f(file), '--output', f(`out/scan-${file}.jsonl`)]), reason);
    expect(readFileSync(f(`out/scan-${file}.jsonl`), 'utf8')).not.toContain(CANARY);
  });

  it('scans 1 MB of unpunctuated crisis language in bounded time', async () => {
    const o = await pixel(['safety', 'scan', '--rules-only', '--input', f('unpunctuated.jsonl'), '--output', f('out/unpunctuated.jsonl')]);
    expect({ code: o.code, stderr: o.stderr }).toEqual({ code: 0, stderr: '' });
    expect(o.ms).toBeLessThan(BOUND_MS);
    const result = JSON.parse(readFileSync(f('out/unpunctuated.jsonl'), 'utf8')) as { crisis: { severity: string } };
    expect(result.crisis.severity).not.toBe('NONE');
  });

  it('refuses input == output without touching the file', async () => {
    const before = statSync(f('latin1.jsonl'));
    expectClearFailure(
      await pixel(['safety', 'scan', '--rules-only', '--input', f('latin1.jsonl'), '--output', f('latin1.jsonl')]),
      /is the input: give another file/,
    );
    expect(statSync(f('latin1.jsonl')).size).toBe(before.size);
  });

  it.concurrent.each([
    ['a catastrophic regular expression', 'redos.yaml', /may run in more than linear time/],
    ['a YAML alias bomb', 'bomb.yaml', /not valid YAML\/JSON: Excessive alias count/],
    ['a binary file', 'binary.bin', /not UTF-8 text/],
    ['a file over 4 MB', 'big.json', /larger than 4 MB/],
    ['/dev/zero', '/dev/zero', /not a regular file/],
    ['a file nested 200,000 deep', 'deep.json', /deep\.json is not valid YAML\/JSON/],
  ])('refuses PIXEL_PII_DETECTORS holding %s, at load', async (_what, file, reason) => {
    expectClearFailure(await pixel(['safety', 'scan', '--rules-only', '--text', 'hello'], { PIXEL_PII_DETECTORS: at(file) }), reason);
  });
});

describe('pixel eval: validation sets and annotations', () => {
  it.concurrent.each([...NOT_FILES, ['binary.bin', /not UTF-8 text/], ['deep.json', /not a stage manifest/], ['big.json', /larger than 4 MB/]])(
    'build-set refuses --manifest %s',
    async (file, reason) => {
      expectClearFailure(await pixel(['eval', 'build-set', '--manifest', at(file)]), reason);
    },
  );

  it.concurrent.each([
    ['deep.jsonl', /line 1: /],
    ['binary.bin', /line 1: line is not valid UTF-8/],
    ['/dev/zero', /not a regular file/],
  ])('build-set refuses --records %s naming the line', async (file, reason) => {
    expectClearFailure(await pixel(['eval', 'build-set', '--records', at(file)]), reason);
  });

  it.concurrent.each([
    ['binary.bin', /is not a validation set manifest: it is not JSON/],
    ['deep.json', /not a validation set manifest/],
    ['/dev/zero', /not a regular file/],
  ])('annotate refuses --set %s', async (file, reason) => {
    expectClearFailure(await pixel(['eval', 'annotate', '--set', at(file), '--annotations', f('annotations.jsonl')]), reason);
  });
});

describe('pixel model: damaged and hostile model files', () => {
  it.concurrent.each([
    ['huge-counts.gguf', /tensor count is \d+ .*more than the limit/],
    ['huge-string.gguf', /GGUF .*(truncated|damaged|more than)/],
    ['truncated.gguf', /truncated file/],
    ['binary.bin', /not a GGUF file/],
    ['/dev/zero', /not a file/],
  ])('import-gguf refuses %s', async (file, reason) => {
    expectClearFailure(await pixel(['model', 'import-gguf', at(file), '--out', f(`out/model-${path.basename(file)}`)]), reason);
  });

  it.concurrent.each([
    ['model-huge', /config.*(vocab_size|hidden_size|num_hidden_layers)/],
    ['model-deep', /config/],
    ['missing-model', /does not exist|no model folder/],
  ])('artifacts refuses the model folder %s', async (folder, reason) => {
    expectClearFailure(await pixel(['model', 'artifacts', '--model', f(folder), '--artifacts', f('home/artifacts')]), reason);
  });
});

describe('pixel review: ids, tokens and servers', () => {
  it.concurrent.each([
    ['a reviewer id that walks out of the store', ['review', 'link', '--reviewer', '../../etc/passwd'], /a reviewer id holds only/],
    ['revoking with a traversal id', ['review', 'revoke', '--reviewer', '../x'], /a reviewer id holds only/],
    [
      'a comment over 4,000 characters (checked before sending)',
      [
        'review',
        'submit',
        'item-1',
        '--review',
        'wf',
        '--clinical',
        '3',
        '--empathy',
        '3',
        '--safety',
        '3',
        '--label',
        'safe',
        '--comment',
        `${CANARY}${'c'.repeat(5000)}`,
        '--token',
        'x',
      ],
      /the review: comment: a comment has at most 4000 characters/,
    ],
    ['a server that is not there', ['review', 'list', '--token', CANARY, '--server', 'http://127.0.0.1:9'], /cannot reach the review server/],
    ['no registry', ['review', 'reviewers'], /no reviewer registry/],
  ] as const)('refuses %s', async (_what, args, reason) => {
    expectClearFailure(await pixel([...args]), reason);
  });
});
