import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { artifactStoreAt, defaultArtifactRoot } from '../shared/artifacts';
import { PrepareConfigSchema, parseWith } from '../shared/contracts';
import { prepareDataset } from '../shared/data';
import { intOption } from './options';
import { checkRegularFile } from '../shared/util/files';

export function registerDataPrepareCommand(data: Command): void {
  data
    .command('prepare')
    .description('Run the data-preparation stage locally, without Temporal (same code as the activity)')
    .argument('<source>', 'JSONL file, or the counsel-chat CSV with --kind counsel-chat')
    .option('--kind <kind>', 'jsonl or counsel-chat', 'jsonl')
    .option('--shard-size <n>', 'records per shard', intOption('--shard-size', 1), 10_000)
    .option('--artifacts <dir>', 'artifact store root', defaultArtifactRoot())
    .option('--no-cache', 'recompute even if an identical preparation exists')
    .action(async (source: string, opts: { kind: string; shardSize: number; artifacts: string; cache: boolean }) => {
      const parsed = parseWith(PrepareConfigSchema, 'options', { source: { kind: opts.kind, uri: source }, shardSize: opts.shardSize });
      if (!parsed.ok) throw new Error(parsed.message);
      if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) checkRegularFile(source, 'source');
      const bar = process.stderr.isTTY
        ? new SingleBar({ format: '  {phase} {value} records, {quarantined} quarantined', hideCursor: true })
        : undefined;
      bar?.start(0, 0, { phase: 'fingerprint', quarantined: 0 });
      const result = await prepareDataset({
        config: parsed.value,
        store: artifactStoreAt(opts.artifacts, '--artifacts'),
        useCache: opts.cache,
        onProgress: (p) => bar?.update(p.read, { phase: p.phase, quarantined: p.quarantined }),
      });
      bar?.stop();
      const c = result.counts;
      console.log(JSON.stringify({ ...result, counts: { ...c, byTopic: undefined } }, null, 2));
      // Nothing usable is a failure, however well the file was read.
      if (c.accepted === 0)
        throw new Error(
          `no records accepted: ${c.read} read, ${c.quarantined} quarantined (${JSON.stringify(c.byReason)}); see ${result.quarantineUri}`,
        );
    });
}
