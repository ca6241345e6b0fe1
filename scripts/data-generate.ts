import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { writeSyntheticJsonl } from '../shared/data';
import { intOption, shareOption } from './options';

export function registerDataGenerateCommand(data: Command): void {
  data
    .command('generate')
    .description('Write seeded synthetic therapeutic conversations as JSONL')
    .requiredOption('--out <file>', 'output JSONL file')
    .option('--count <n>', 'number of conversations', intOption('--count', 1, 50_000_000), 2_000)
    .option('--seed <n>', 'random seed', intOption('--seed', 0, 0xffffffff), 42)
    .option('--crisis-share <x>', 'share of crisis conversations (0-1)', shareOption('--crisis-share'), 0.1)
    .option('--pii-share <x>', 'share of conversations with planted PII (0-1)', shareOption('--pii-share'), 0.15)
    .action(async (opts: { out: string; count: number; seed: number; crisisShare: number; piiShare: number }) => {
      const bar = process.stderr.isTTY
        ? new SingleBar({ format: '  generating |{bar}| {value}/{total} {eta_formatted}', hideCursor: true })
        : undefined;
      bar?.start(opts.count, 0);
      const started = Date.now();
      const { records, bytes } = await writeSyntheticJsonl(
        opts.out,
        opts.count,
        { seed: opts.seed, crisisShare: opts.crisisShare, piiShare: opts.piiShare },
        (n) => bar?.update(n),
      );
      bar?.stop();
      console.log(
        `wrote ${records} conversations (${(bytes / 1e6).toFixed(1)} MB) to ${opts.out} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    });
}
