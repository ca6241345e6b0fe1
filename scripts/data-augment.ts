import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { LocalArtifactStore } from '../shared/artifacts';
import { augmentShard, loadAugmentLexicon, summarizeAugmentation } from '../shared/augmentation';
import { AugmentConfigSchema, ConversationRecordSchema, describeZodError, parseWith } from '../shared/contracts';
import { sha256Hex } from '../shared/util/hash';
import { checkRegularFile, writeFileReplacing } from '../shared/util/files';
import { readLines } from '../shared/util/lines';
import { createPiiEngine } from '../shared/safety/pii';

/** Bad lines listed one by one on stderr; the rest are counted. */
const MAX_REPORTED_LINES = 20;

/**
 * `pixel data augment`: the augmentation stage on one JSONL file of conversation records,
 * locally and without Temporal (the same code as the activity). Records are validated first;
 * bad lines are reported on stderr with their line number and reason and left out, the rest is
 * augmented as one train shard.
 */
export function registerDataAugmentCommand(data: Command): void {
  data
    .command('augment')
    .description('Augment a JSONL file of conversation records locally (same code as the stage); copies only')
    .argument('<input>', 'JSONL file, one conversation record per line (ideally the safety stage output)')
    .requiredOption('--out <file>', 'where to write the augmented copies (JSONL)')
    .option('--config <json>', 'augmentation config as JSON (the run input\'s "augment" object)', '{}')
    .option('--report <file>', 'also write the stage report (JSON) there')
    .action(async (input: string, opts: { out: string; config: string; report?: string }) => {
      let raw: unknown;
      try {
        raw = JSON.parse(opts.config);
      } catch {
        throw new Error('--config is not valid JSON');
      }
      const parsed = parseWith(AugmentConfigSchema, '--config', raw);
      if (!parsed.ok) throw new Error(parsed.message);
      // Augmented as a train shard, whatever the config's splits: the file is the split.
      const config = { ...parsed.value, splits: ['train' as const] };
      checkRegularFile(input, 'input');
      const dir = mkdtempSync(path.join(tmpdir(), 'pixel-augment-'));
      try {
        const lines: string[] = [];
        let bad = 0;
        // Line number and reason, never the line's text; the first few, then a count.
        const leaveOut = (line: number, reason: string) => {
          bad += 1;
          if (bad <= MAX_REPORTED_LINES) console.error(`line ${line}: ${reason}, left out`);
          else if (bad === MAX_REPORTED_LINES + 1) console.error(`(further bad lines are counted, not listed)`);
        };
        for await (const item of readLines(createReadStream(input), 64 * 1024 * 1024, { blankLines: 0 })) {
          if (item.kind !== 'text') {
            leaveOut(item.line, item.detail);
            continue;
          }
          let value: unknown;
          try {
            value = JSON.parse(item.raw);
          } catch {
            leaveOut(item.line, 'not JSON');
            continue;
          }
          const record = ConversationRecordSchema.safeParse(value);
          if (!record.success) {
            leaveOut(item.line, describeZodError('record', record.error));
            continue;
          }
          lines.push(JSON.stringify(record.data));
        }
        if (lines.length === 0) throw new Error(`${input}: no valid conversation records (${bad} bad lines)`);
        const store = new LocalArtifactStore(dir);
        const text = `${lines.join('\n')}\n`;
        const ref = await store.writeText('input.jsonl', text);
        const { lexicon, sha256 } = loadAugmentLexicon();
        const shard = { ...ref, sha256: sha256Hex(text), split: 'train' as const, records: lines.length };
        const result = await augmentShard({ store, engine: createPiiEngine(), lexicon, lexiconSha256: sha256, shard, config });
        await writeFileReplacing(opts.out, '--out', result.augmented ? await store.readText(result.augmented.uri) : '');
        const summary = await summarizeAugmentation(store, shard.sha256, [result], config);
        if (opts.report) await writeFileReplacing(opts.report, '--report', await store.readText(summary.reportUri));
        const { manifestUri: _m, reportUri: _r, ...figures } = summary;
        console.log(JSON.stringify({ input, out: opts.out, badLines: bad, ...figures }, null, 2));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
}
