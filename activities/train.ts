import { existsSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import { LocalArtifactStore, type ArtifactStore } from '../shared/artifacts';
import type { Client } from '@temporalio/client';
import { ErrorTypes, TRAINING_MESSAGES, TrainConfigSchema, TrainHeartbeatSchema, parseWith, type TrainHeartbeat, type TrainingProgress } from '../shared/contracts';
import { generateTrainingArtifacts } from '../shared/training/artifacts/generate';
import type { ArtifactManifest } from '../shared/training/artifacts/train-step';
import { createDefaultModel } from '../shared/training/model/default-model';
import { exportFineTuned } from '../shared/training/export';
import { lossChartSvg } from '../shared/training/loss-chart';
import { runTrainingInThread, TrainingError, type TrainDone } from '../shared/training/run-training';
import type { AcceleratorInfo } from './accelerator';

export const TrainModelInputSchema = z
  .object({
    config: TrainConfigSchema.prefault({}),
    /** The augmentation stage's manifest: the train split (sources and copies) and the val split. */
    dataManifestUri: z.string().min(1, 'dataManifestUri is empty'),
    /** Names the run's checkpoint folder (the workflow id). */
    runId: z.string().regex(/^[\w.:@-]{1,128}$/, 'runId may hold only letters, digits and . _ : @ -'),
  })
  .strict();
export type TrainModelInput = z.input<typeof TrainModelInputSchema>;

export interface TrainModelResult {
  steps: number;
  stoppedBy: string;
  executionProvider: string;
  bestStep: number;
  bestValLoss: number | null;
  /** Validation loss of the base model before training (step 0), for the report. */
  baseValLoss: number | null;
  bestCheckpointUri?: string;
  lastCheckpointUri?: string;
  lossCurveUri: string;
  /** The loss curve as an SVG chart. */
  lossChartUri: string;
  /** The fine-tuned model folder (weights, tokenizer, `onnx/model.onnx` for inference). */
  modelUri?: string;
  /** The base model folder it was fine-tuned from (evaluation's baseline when none is promoted). */
  baseModelUri?: string;
  artifactsManifestUri: string;
  resumedFromStep: number;
}

const ManifestSchema = z.object({ shards: z.array(z.object({ split: z.enum(['train', 'val', 'test']), uri: z.string() })) });
const toPath = (uri: string) => (uri.startsWith('file:') ? fileURLToPath(uri) : uri);

/**
 * Fine-tuning as an activity of the GPU queue: generates (or reuses) the training artifacts
 * of the base model, then runs the training loop in a worker thread. Heartbeats carry
 * `{ step, checkpointUri, bestValLoss, dataCursor }`; a retry resumes from the heartbeat's
 * checkpoint (same step, optimizer state and data position). Cancellation checkpoints, then
 * stops. A non-finite loss fails the activity for good, naming the step and the last good
 * checkpoint. With a client, it also reports progress to its workflow (a signal every few
 * seconds) and polls the workflow's stop flag (a query), finishing with its best checkpoint
 * when a person asks.
 */
export function createTrainActivities(deps: { store: ArtifactStore; accelerator: AcceleratorInfo; client?: Client }) {
  return {
    async trainModelActivity(input: TrainModelInput): Promise<TrainModelResult> {
      const parsed = parseWith(TrainModelInputSchema, 'trainModel input', input ?? {});
      if (!parsed.ok) throw ApplicationFailure.nonRetryable(parsed.message, ErrorTypes.InvalidInput);
      const { config, dataManifestUri, runId } = parsed.value;
      const store = deps.store;
      if (!(store instanceof LocalArtifactStore)) throw ApplicationFailure.nonRetryable('training needs a local artifact store (the training thread reads files by path)', ErrorTypes.InvalidInput);
      const ctx = Context.current();
      const modelDir = path.resolve(config.model ?? path.join(process.env.PIXEL_HOME ?? '.pixel', 'models', 'default'));
      if (!config.model && !existsSync(path.join(modelDir, 'config.json'))) await createDefaultModel(modelDir);
      if (!existsSync(path.join(modelDir, 'config.json'))) throw ApplicationFailure.nonRetryable(`config.model: no model folder at ${modelDir} (config.json missing)`, ErrorTypes.InvalidInput);

      let manifest: z.infer<typeof ManifestSchema>;
      try {
        manifest = ManifestSchema.parse(JSON.parse(await deps.store.readText(dataManifestUri)));
      } catch (err) {
        throw ApplicationFailure.nonRetryable(`dataManifestUri ${dataManifestUri}: ${(err as Error).message}`, ErrorTypes.InvalidInput);
      }
      const trainFiles = manifest.shards.filter((s) => s.split === 'train').map((s) => toPath(s.uri));
      const valFiles = manifest.shards.filter((s) => s.split === 'val').map((s) => toPath(s.uri));
      if (trainFiles.length === 0) throw ApplicationFailure.nonRetryable(`dataManifestUri ${dataManifestUri}: no train shards`, ErrorTypes.InvalidInput);

      ctx.heartbeat({ phase: 'artifacts' });
      const artifacts = await generateTrainingArtifacts(deps.store, { model: modelDir, modes: [config.mode], batch: config.batch, seq: config.seq, lora: config.lora, objectives: { unlikelihood: false, kl: false } });
      const file = (name: string) => toPath((artifacts.files[name] as { uri: string }).uri);
      const readManifest = async (name: string) => JSON.parse(await readFile(file(name), 'utf8')) as ArtifactManifest;

      // A retry picks up the last checkpoint its previous attempt reported.
      const previous = TrainHeartbeatSchema.safeParse(ctx.info.heartbeatDetails);
      const resumeFrom = previous.success && previous.data.checkpointUri ? toPath(previous.data.checkpointUri) : undefined;
      const checkpointDir = toPath(deps.store.uriFor(`training/runs/${runId}/checkpoints`));
      mkdirSync(checkpointDir, { recursive: true });
      let beat: TrainHeartbeat = previous.success ? previous.data : { step: 0, bestValLoss: null, dataCursor: { epoch: 0, file: 0, line: 0 } };
      ctx.log.info('training', { executionProvider: deps.accelerator.executionProvider, mode: config.mode, resumeFrom: resumeFrom ?? null, steps: config.steps });
      const started = Date.now();
      let firstStep: number | undefined;
      let stepsThisAttempt = 0;
      // Progress to the run and its stop flag from the run, when this worker has a client.
      const workflowId = ctx.info.workflowExecution?.workflowId;
      const handle = deps.client && workflowId ? deps.client.workflow.getHandle(workflowId) : undefined;
      let lastReport = 0;
      const report = (p: TrainingProgress, force = false) => {
        if (!handle || (!force && Date.now() - lastReport < 3000)) return;
        lastReport = Date.now();
        handle.signal(TRAINING_MESSAGES.reportProgress, p).catch((err: unknown) => {
          ctx.log.warn('progress report failed', { error: String(err) });
        });
      };
      const run = runTrainingInThread(
        {
          modelDir,
          trainStep: { path: file(`train-step-${config.mode}.onnx`), manifest: await readManifest(`train-step-${config.mode}.json`) },
          evaluation: { path: file(`eval-${config.mode}.onnx`), manifest: await readManifest(`eval-${config.mode}.json`) },
          trainFiles,
          valFiles,
          config,
          resumeFrom,
          checkpointDir,
          executionProviders: deps.accelerator.executionProvider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
        },
        {
          signal: ctx.cancellationSignal,
          onLog: (message) => {
            ctx.log.warn(message);
          },
          onCheckpoint: (m) => {
            if (m.reason !== 'best') beat = { ...beat, checkpointUri: deps.store.uriFor(path.relative(store.root, m.path)) };
            ctx.heartbeat(beat);
          },
          onStep: (m) => {
            firstStep ??= m.step;
            stepsThisAttempt += 1;
            const seconds = (Date.now() - started) / 1000;
            const tokensPerSecond = Math.round((m.tokens * stepsThisAttempt) / Math.max(seconds, 1e-3));
            beat = { ...beat, step: m.step, loss: m.loss, bestValLoss: m.bestValLoss, dataCursor: m.cursor, tokensPerSecond };
            ctx.heartbeat(beat);
            const etaSeconds = tokensPerSecond > 0 ? ((config.steps - m.step) * m.tokens) / tokensPerSecond : undefined;
            report(
              { step: m.step, totalSteps: config.steps, loss: m.loss, ...(m.valLoss !== undefined ? { valLoss: m.valLoss } : {}), ...(m.bestValLoss !== null ? { bestValLoss: m.bestValLoss } : {}), tokensPerSecond, ...(etaSeconds !== undefined ? { etaSeconds } : {}) },
              m.valLoss !== undefined || m.step === config.steps,
            );
          },
        },
      );
      const poll = handle
        ? setInterval(() => {
            handle
              .query<boolean>(TRAINING_MESSAGES.isStopRequested)
              .then((stop) => {
                if (stop) run.stop();
              })
              .catch(() => undefined);
          }, 1000)
        : undefined;
      let done: TrainDone;
      try {
        done = await run.done;
      } catch (err) {
        if (err instanceof TrainingError && err.kind === 'NonFiniteLossError') throw ApplicationFailure.nonRetryable(err.message, 'NonFiniteLoss');
        if (err instanceof TrainingError && err.kind === 'ZodError') throw ApplicationFailure.nonRetryable(err.message, ErrorTypes.InvalidInput);
        throw err;
      } finally {
        if (poll) clearInterval(poll);
      }
      if (done.stoppedBy === 'cancelled') throw new CancelledFailure('training cancelled after a checkpoint');
      const curve = await deps.store.writeText(`training/runs/${runId}/loss-curve.json`, `${JSON.stringify({ losses: done.losses, valLosses: done.valLosses }, null, 2)}\n`);
      const chart = await deps.store.writeText(`training/runs/${runId}/loss-curve.svg`, lossChartSvg(done.losses, done.valLosses, `${runId}: loss per step (${config.mode}, ${done.stoppedBy})`));
      const rel = (p?: string) => (p ? deps.store.uriFor(path.relative(store.root, p)) : undefined);
      // The fine-tuned model, from the best checkpoint (else the last): a model folder with its inference graph.
      const source = done.bestCheckpoint ?? done.lastCheckpoint;
      let modelUri: string | undefined;
      if (source) {
        const out = toPath(deps.store.uriFor(`training/runs/${runId}/model`));
        await exportFineTuned(modelDir, source, config.mode === 'lora' ? config.lora : undefined, out, Math.max(config.seq, 512));
        modelUri = deps.store.uriFor(`training/runs/${runId}/model`);
      }
      return {
        steps: done.step,
        stoppedBy: done.stoppedBy,
        executionProvider: deps.accelerator.executionProvider,
        bestStep: done.bestStep,
        bestValLoss: done.bestValLoss,
        baseValLoss: done.valLosses.find((v) => v.step === 0)?.loss ?? null,
        bestCheckpointUri: rel(done.bestCheckpoint),
        lastCheckpointUri: rel(done.lastCheckpoint),
        lossCurveUri: curve.uri,
        lossChartUri: chart.uri,
        ...(modelUri ? { modelUri } : {}),
        baseModelUri: pathToFileURL(modelDir).href,
        artifactsManifestUri: artifacts.manifestUri,
        resumedFromStep: resumeFrom && firstStep !== undefined ? firstStep - 1 : 0,
      };
    },
  };
}
