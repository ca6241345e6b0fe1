// Child process of `pixel bench data`: prepares one JSONL file into a fresh store and prints
// one JSON line, so each measurement has its own peak RSS.
import { LocalArtifactStore } from '../../shared/artifacts';
import { PrepareConfigSchema } from '../../shared/contracts';
import { prepareDataset } from '../../shared/data';

async function main(): Promise<void> {
  const [file, storeDir, threads] = process.argv.slice(2);
  if (!file || !storeDir) throw new Error('usage: prepare-once <file.jsonl> <store-dir>');
  const config = PrepareConfigSchema.parse({ source: { kind: 'jsonl', uri: file } });
  const started = process.hrtime.bigint();
  const result = await prepareDataset({
    config,
    store: new LocalArtifactStore(storeDir),
    useCache: false,
    threads: threads === undefined ? 'auto' : Number(threads),
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const c = result.counts;
  console.log(
    JSON.stringify({
      records: c.read,
      accepted: c.accepted,
      quarantined: c.quarantined,
      byReason: c.byReason,
      bySplit: c.bySplit,
      seconds,
      recordsPerSecond: c.read / seconds,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
