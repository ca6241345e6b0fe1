import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { z } from 'zod';
import { artifactStoreAt, defaultArtifactRoot, type ArtifactStore } from '../shared/artifacts';
import { ShardRefSchema, ValidationSetConfigSchema, ValidationSetManifestSchema, parseWith, type ShardRef } from '../shared/contracts';
import { canonicalJson, hashStream, sha256Hex } from '../shared/util/hash';
import { buildValidationSet, mergeAnnotations, readValidationSet, serializeItems } from '../shared/evaluation/validation-set';
import { readInputFile } from '../shared/util/files';
import { intOption, shareOption } from './options';

/** Largest annotations file read (a 1,000-item set with long comments from several annotators is far smaller). */
const MAX_ANNOTATION_BYTES = 64 * 1024 * 1024;

const ManifestShardsSchema = z.object({ shards: z.array(ShardRefSchema.partial({ records: true, bytes: true })) });

/** Test shards from a stage manifest (prepare, safety or augment): the ones of the test split. */
async function testShardsOf(store: ArtifactStore, manifestPath: string): Promise<ShardRef[]> {
  let json: unknown;
  try {
    json = JSON.parse(readInputFile(manifestPath, '--manifest'));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw new Error(`--manifest ${manifestPath}: not a stage manifest (it is not JSON)`);
  }
  const parsed = ManifestShardsSchema.safeParse(json);
  if (!parsed.success) throw new Error(`--manifest ${manifestPath}: not a stage manifest with a shards list`);
  const test = parsed.data.shards.filter((s) => s.split === 'test');
  if (test.length === 0)
    throw new Error(`--manifest ${manifestPath}: it lists no test shards (the validation set is built from the test split only)`);
  return Promise.all(test.map(async (s) => ({ ...s, records: s.records ?? 0, bytes: s.bytes ?? (await store.stat(s.uri)).bytes })));
}

/** A JSONL file of test-split records as one shard. */
async function fileShard(store: ArtifactStore, file: string): Promise<ShardRef> {
  const { sha256, bytes } = await hashStream(await store.openRead(file));
  const records = (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim() !== '').length;
  return { split: 'test', uri: pathToFileURL(path.resolve(file)).href, sha256, bytes, records };
}

export function registerEvalCommands(program: Command): void {
  const evaluation = program.command('eval').description('The expert validation set and evaluation reports');
  evaluation
    .command('build-set')
    .description('Build the expert validation set (scenario-balanced prompts with crisis labels) from test-split records; prints its manifest')
    .option('--manifest <file>', "a stage manifest (the safety stage's, or prepare's) whose test shards to use")
    .option('--records <files...>', 'JSONL files of test-split conversation records (already PII-redacted)')
    .option('--size <n>', 'prompts wanted (500 to 1000)', intOption('--size', 1), 600)
    .option('--crisis-min <share>', 'lowest crisis share', shareOption('--crisis-min'), 0.08)
    .option('--crisis-target <share>', 'crisis share aimed at', shareOption('--crisis-target'), 0.15)
    .option('--crisis-max <share>', 'highest crisis share', shareOption('--crisis-max'), 0.2)
    .option('--seed <n>', 'selection seed', intOption('--seed', 0), 7)
    .option('--artifacts <dir>', 'artifact store root (the set is written under evaluation/validation-sets/)', defaultArtifactRoot())
    .action(
      async (opts: {
        manifest?: string;
        records?: string[];
        size: number;
        crisisMin: number;
        crisisTarget: number;
        crisisMax: number;
        seed: number;
        artifacts: string;
      }) => {
        if (!opts.manifest === !opts.records) throw new Error('give exactly one of --manifest or --records');
        const config = parseWith(ValidationSetConfigSchema, 'options', {
          size: opts.size,
          seed: opts.seed,
          crisisShare: { min: opts.crisisMin, target: opts.crisisTarget, max: opts.crisisMax },
        });
        if (!config.ok) throw new Error(config.message);
        const store = artifactStoreAt(opts.artifacts, '--artifacts');
        const shards = opts.manifest ? await testShardsOf(store, opts.manifest) : await Promise.all(opts.records!.map((f) => fileShard(store, f)));
        const result = await buildValidationSet(store, shards, config.value);
        const { file, records, shortfall, byScenario, bySeverity, crisisShare, candidates } = result.manifest;
        console.log(
          JSON.stringify(
            { manifestUri: result.manifestUri, cacheHit: result.cacheHit, file, records, shortfall, byScenario, bySeverity, crisisShare, candidates },
            null,
            2,
          ),
        );
      },
    );
  evaluation
    .command('annotate')
    .description(
      'Add expert annotations (JSONL: itemId, annotator, rubric, safetyLabel, comment) to a validation set; writes a new set and prints its manifest',
    )
    .requiredOption('--set <manifest>', "the validation set's manifest")
    .requiredOption('--annotations <file>', 'annotations, one JSON object per line')
    .option('--artifacts <dir>', 'artifact store root', defaultArtifactRoot())
    .action(async (opts: { set: string; annotations: string; artifacts: string }) => {
      const store = artifactStoreAt(opts.artifacts, '--artifacts');
      const { manifest, items } = await readValidationSet(store, opts.set);
      const merged = mergeAnnotations(items, readInputFile(opts.annotations, '--annotations', MAX_ANNOTATION_BYTES));
      for (const q of merged.quarantined) console.error(`${opts.annotations}:${q.line}: ${q.reason}`);
      const text = serializeItems(merged.items);
      const key = sha256Hex(canonicalJson({ base: manifest.file.sha256, annotated: sha256Hex(text) })).slice(0, 24);
      const file = await store.writeText(`evaluation/validation-sets/annotated-${key}/items.jsonl`, text);
      const next = ValidationSetManifestSchema.parse({ ...manifest, file });
      const written = await store.writeText(`evaluation/validation-sets/annotated-${key}/manifest.json`, `${JSON.stringify(next, null, 2)}\n`);
      console.log(JSON.stringify({ manifestUri: written.uri, added: merged.added, quarantined: merged.quarantined.length }, null, 2));
      if (merged.quarantined.length > 0) process.exitCode = 2;
    });
}
