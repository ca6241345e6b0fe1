import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { S3ArtifactStore, s3LocationFromEnv } from '../../shared/artifacts';
import { reviewWorkflowId } from '../../shared/contracts';
import { ModelRegistry } from '../../shared/model-registry/model-registry';
import { startServing, type RunningServer } from '../../serving/start';
import { trainingPipelineWorkflow } from '../../workflows/pipeline';
import { createCpuWorker, createGpuWorker } from '../../workers/factory';
import { freePort, tempDir, testEnvironment, uniqueQueue } from '../helpers';
import { promotableRunInput, reviewEverything } from '../review-helpers';
import { findWeed, startS3Server, type RunningS3 } from '../s3-server';

/** Every payload (activity inputs and results, workflow arguments, signals, updates) anywhere in history events. */
function payloadsOf(value: unknown, out: Payload[] = []): Payload[] {
  if (Array.isArray(value)) for (const v of value) payloadsOf(v, out);
  else if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'payloads' && Array.isArray(v)) out.push(...(v as Payload[]));
      else payloadsOf(v, out);
    }
  }
  return out;
}

/** Every file under a folder, relative to it (none when it does not exist). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

/**
 * The pipeline with its artifacts in one bucket of a real S3-compatible server (SeaweedFS): the
 * CPU worker and the GPU worker each have a local cache of their own, as on two machines. The run
 * goes from raw data to a promoted model; nothing any stage hands to another names a local file
 * (every URI in the workflows' histories is the bucket's), each worker's cache holds only what it
 * fetched or wrote itself, and a chat server with a third, empty cache serves the promoted model
 * from the bucket alone.
 */
describe('pipeline on an S3 artifact store with two worker caches', () => {
  const t = tempDir('pixel-s3-pipeline-');
  const binary = findWeed();
  const bucket = 'pixel-pipeline';
  const env = { ...process.env };
  let s3: RunningS3;
  let client: S3Client;
  let temporal: TestWorkflowEnvironment;
  const workers: Worker[] = [];
  const running: Promise<void>[] = [];
  let serving: RunningServer | undefined;
  const taskQueue = uniqueQueue('s3-pipeline');
  const cache = (name: string) => path.join(t.dir, `${name}-cache`);
  const storeWith = (name: string) => new S3ArtifactStore(s3LocationFromEnv(`s3://${bucket}/pixel`, cache(name)));

  beforeAll(async () => {
    if (!binary) throw new Error('SeaweedFS (weed) is not installed: run `bash scripts/setup.sh --test` or set PIXEL_WEED');
    s3 = await startS3Server({ binary, dir: path.join(t.dir, 's3') });
    Object.assign(process.env, s3.env);
    process.env.PIXEL_HOME = path.join(t.dir, 'home');
    await s3.createBucket(bucket);
    client = s3.client();
    temporal = await testEnvironment();
    const cpu = await createCpuWorker({
      connection: temporal.nativeConnection,
      namespace: temporal.namespace ?? 'default',
      taskQueue,
      store: storeWith('cpu'),
    });
    const gpu = await createGpuWorker({
      connection: temporal.nativeConnection,
      namespace: temporal.namespace ?? 'default',
      taskQueue: `${taskQueue}-gpu`,
      store: storeWith('gpu'),
      accelerator: { executionProvider: 'cpu', gpus: [], reason: 'test' },
    });
    workers.push(cpu, gpu);
    running.push(cpu.run(), gpu.run());
  }, 180_000);

  afterAll(async () => {
    await serving?.close(5_000);
    for (const w of workers) w.shutdown();
    await Promise.all(running);
    await temporal?.teardown();
    client?.destroy();
    await s3?.stop();
    process.env = env;
    t.cleanup();
  });

  it('runs to promotion with every artifact in the bucket, and a server with an empty cache serves the model', async () => {
    const handle = await temporal.client.workflow.start(trainingPipelineWorkflow, {
      taskQueue,
      workflowId: `s3-pipeline-${Date.now()}`,
      args: [promotableRunInput('s3-pipeline')],
    });
    await reviewEverything(temporal.client, handle.workflowId, true);
    const result = await handle.result();
    expect(result.promotion?.promoted).toBe(true);

    // What the stages handed each other: only the bucket's URIs, never a path on a worker.
    let uris = 0;
    for (const id of [handle.workflowId, reviewWorkflowId(handle.workflowId)]) {
      const history = await temporal.client.workflow.getHandle(id).fetchHistory();
      const text = payloadsOf(history.events ?? [])
        .map((p) => JSON.stringify(defaultPayloadConverter.fromPayload(p)))
        .join('\n');
      // (Only the offending URIs are shown on failure, not the history.)
      expect(text.match(/file:\/\/[^"\\]*/g) ?? []).toEqual([]);
      expect(text.split(t.dir).length - 1).toBe(0);
      uris += text.match(/s3:\/\/pixel-pipeline\/pixel\//g)?.length ?? 0;
    }
    expect(uris).toBeGreaterThan(10);

    // The bucket holds every stage's output and the registry.
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'pixel/', ContinuationToken: token }));
      for (const o of page.Contents ?? []) keys.push(o.Key as string);
      token = page.NextContinuationToken;
    } while (token);
    for (const want of [
      /^pixel\/datasets\/prepared\/[^/]+\/manifest\.json$/,
      /^pixel\/training\/artifacts\/[^/]+\/manifest\.json$/,
      /^pixel\/training\/runs\/.+\/checkpoints\/.+/,
      /^pixel\/models\/registry\/current\.json$/,
      /\/model\/onnx\/model\.onnx$/,
    ])
      expect(keys.some((k) => want.test(k))).toBe(true);

    // Each worker's cache: the GPU worker wrote the checkpoints there and fetched the training
    // shards; the CPU worker has none of the GPU worker's checkpoints and fetched the model to
    // evaluate it from the bucket.
    const cpuFiles = filesUnder(path.join(cache('cpu'), bucket));
    const gpuFiles = filesUnder(path.join(cache('gpu'), bucket));
    expect(gpuFiles.some((f) => /checkpoints/.test(f))).toBe(true);
    expect(gpuFiles.some((f) => /\.jsonl$/.test(f))).toBe(true);
    expect(cpuFiles.some((f) => /checkpoints/.test(f))).toBe(false);

    // A chat server on a third machine: an empty cache, the bucket, the registry's current model.
    const servingStore = storeWith('serve');
    const registry = new ModelRegistry(servingStore);
    expect((await registry.current())?.version).toBe(handle.workflowId);
    serving = await startServing({
      store: servingStore,
      port: await freePort(),
      pollMs: 200,
      maxBatch: 2,
      maxQueue: 4,
      maxTokens: 16,
      defaultMaxTokens: 4,
      log: () => undefined,
    });
    let ready = false;
    for (let i = 0; i < 100 && !ready; i++) {
      ready = (await fetch(`${serving.url}/readyz`)).status === 200;
      if (!ready) await new Promise((r) => setTimeout(r, 200));
    }
    expect(ready).toBe(true);
    const reply = await fetch(`${serving.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'pixel', messages: [{ role: 'user', content: 'I have been anxious at work.' }], max_tokens: 4 }),
    });
    expect(reply.status).toBe(200);
    const body = (await reply.json()) as { model: string; usage: { completion_tokens: number } };
    expect(body.model).toBe(handle.workflowId);
    expect(filesUnder(path.join(cache('serve'), bucket)).some((f) => /model\.onnx$/.test(f))).toBe(true);
  }, 600_000);
});
