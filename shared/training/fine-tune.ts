import { z } from 'zod';
import type { ArtifactStore } from '../artifacts';
import { TrainHeartbeatSchema, type TrainConfig, type TrainHeartbeat, type TrainModelResult } from '../contracts/fine-tune';
import { generateTrainingArtifacts, usesSharedWeightsFile } from './artifacts/generate';
import { ArtifactManifestSchema, type ArtifactManifest } from './artifacts/train-step';
import { exportFineTuned } from './export';
import { artifactSpecOf } from './fine-tune-spec';
import { lossChartSvg } from './loss-chart';
import { BaseModelError, resolveBaseModel, sharedBaseModelUri } from './model/base-model';
import { fineTuneMemoryDecision, readModelConfig } from './model/memory-plan';
import { runTrainingInThread, TrainingError, type TrainDone } from './run-training';
import { trainingKeyOf } from './training-key';

/** Input of {@link fineTune} that can never work: a retry would fail the same way. */
export class FineTuneInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FineTuneInputError';
  }
}

/** Training stopped on a cancellation after checkpointing (a retry resumes from the checkpoint). */
export class FineTuneCancelled extends Error {
  constructor() {
    super('training cancelled after a checkpoint');
    this.name = 'FineTuneCancelled';
  }
}

export { TrainingError, artifactSpecOf };

const DataManifestSchema = z.object({ shards: z.array(z.object({ split: z.enum(['train', 'val', 'test']), uri: z.string().min(1) })) });

export interface FineTuneOptions {
  store: ArtifactStore;
  config: TrainConfig;
  /** The augmentation stage's manifest: the train split and the val split. */
  dataManifestUri: string;
  /** Names the run's folder under `training/runs/` (the workflow id). */
  runId: string;
  executionProvider: 'cpu' | 'cuda';
  /** What a previous attempt last reported (its heartbeat details): where to resume. */
  previous?: unknown;
  /**
   * One segment of a longer run (a sweep trial's rung): start from `resumeFromUri` (the previous
   * segment's checkpoint; a retry's own heartbeat wins), pause at `untilStep` with a checkpoint and
   * its validation loss, and export the model only when `untilStep` is the last step.
   */
  segment?: { untilStep: number; resumeFromUri?: string; bestCheckpointUri?: string };
  /** Finish now with the best checkpoint, export it and return (a person's stop, a cancelled run). */
  stop?: AbortSignal;
  /** Checkpoint where training is and throw {@link FineTuneCancelled} (the worker is going away). */
  abort?: AbortSignal;
  /** Where training is, to heartbeat: resume point and live figures. Called often; throttle downstream. */
  onProgress: (beat: TrainHeartbeat) => void;
  onLog?: (message: string, attributes?: Record<string, unknown>) => void;
}

/**
 * Refuses a run that cannot fit its device, from the model's config.json alone (before any
 * artifact is generated or weight loaded): the memory plan of its training on this machine's RAM
 * (CPU) or on the GPU memory PIXEL_GPU_MEMORY_GB gives (CUDA; without it the check is skipped).
 */
function checkMemory(modelDir: string, config: TrainConfig, executionProvider: 'cpu' | 'cuda', onLog: FineTuneOptions['onLog']): void {
  let model: ReturnType<typeof readModelConfig>;
  try {
    model = readModelConfig(modelDir);
  } catch (err) {
    throw new FineTuneInputError((err as Error).message);
  }
  const decision = fineTuneMemoryDecision(
    model.dims,
    {
      mode: config.mode,
      batch: config.batch,
      seq: config.seq,
      lora: config.lora,
      frozenDtype: config.frozenPrecision,
      storedDtype: model.storedDtype,
    },
    executionProvider,
  );
  if (decision.kind === 'too-large' || decision.kind === 'invalid') throw new FineTuneInputError(decision.message);
  if (decision.kind === 'skipped') onLog?.(`memory check skipped: ${decision.reason}`);
  else onLog?.('memory plan', { trainingBytes: decision.plan.training.bytes, deviceBytes: decision.plan.device.bytes });
}

/**
 * The fine-tune stage, top to bottom: resolve the base model (the embedded default is created
 * on first use), check that the run fits its device's memory, read the data manifest, generate
 * (or reuse) the training artifacts, train in a worker thread from the previous attempt's
 * checkpoint if there is one, then write the loss curve and chart and export the best checkpoint
 * (else the last) as a model folder with its inference graph. Everything it reads or writes goes
 * through the artifact store.
 */
export async function fineTune(o: FineTuneOptions): Promise<TrainModelResult> {
  const { store, config, runId } = o;
  let modelDir: string;
  try {
    modelDir = await resolveBaseModel(config.model);
  } catch (err) {
    if (err instanceof BaseModelError) throw new FineTuneInputError(err.message);
    throw err;
  }
  checkMemory(modelDir, config, o.executionProvider, o.onLog);
  let manifest: z.infer<typeof DataManifestSchema>;
  let manifestText: string;
  try {
    manifestText = await store.readText(o.dataManifestUri);
    manifest = DataManifestSchema.parse(JSON.parse(manifestText));
  } catch (err) {
    throw new FineTuneInputError(`dataManifestUri ${o.dataManifestUri}: ${(err as Error).message}`);
  }
  const local = (split: string) => Promise.all(manifest.shards.filter((s) => s.split === split).map((s) => store.localPath(s.uri)));
  const trainFiles = await local('train');
  const valFiles = await local('val');
  if (trainFiles.length === 0) throw new FineTuneInputError(`dataManifestUri ${o.dataManifestUri}: no train shards`);

  const previous = TrainHeartbeatSchema.safeParse(o.previous);
  let beat: TrainHeartbeat = previous.success ? previous.data : { step: 0, bestValLoss: null, dataCursor: { epoch: 0, file: 0, line: 0 } };
  o.onProgress({ ...beat, phase: 'artifacts', totalSteps: config.steps });
  const artifacts = await generateTrainingArtifacts(store, artifactSpecOf(config, modelDir));
  const file = async (name: string): Promise<string> => {
    const ref = artifacts.files[name];
    if (!ref) throw new Error(`training artifacts ${artifacts.manifestUri} have no ${name}`);
    return store.localPath(ref.uri);
  };
  const graphManifest = async (name: string): Promise<ArtifactManifest> =>
    ArtifactManifestSchema.parse(JSON.parse(await store.readText((artifacts.files[name] ?? { uri: name }).uri)));

  // A retry picks up the last checkpoint its previous attempt reported; a segment starts where the one before it paused.
  const resumeUri = (previous.success ? previous.data.checkpointUri : undefined) ?? o.segment?.resumeFromUri;
  const bestUri = (previous.success ? previous.data.bestCheckpointUri : undefined) ?? o.segment?.bestCheckpointUri;
  if (!previous.success && o.segment?.resumeFromUri) beat = { ...beat, checkpointUri: o.segment.resumeFromUri };
  if (bestUri) beat = { ...beat, bestCheckpointUri: bestUri };
  const resumeFrom = resumeUri ? await store.localPath(resumeUri) : undefined;
  const bestCheckpoint = resumeFrom && bestUri ? await store.localPath(bestUri) : undefined;
  const checkpoints = await store.workspace(`training/runs/${runId}/checkpoints`);
  o.onLog?.('training', { executionProvider: o.executionProvider, mode: config.mode, resumeFrom: resumeFrom ?? null, steps: config.steps });
  let firstStepAt = Date.now();
  let firstStep: number | undefined;
  let stepsThisAttempt = 0;
  const run = runTrainingInThread(
    {
      modelDir,
      trainStep: { path: await file(`train-step-${config.mode}.onnx`), manifest: await graphManifest(`train-step-${config.mode}.json`) },
      evaluation: { path: await file(`eval-${config.mode}.onnx`), manifest: await graphManifest(`eval-${config.mode}.json`) },
      trainFiles,
      valFiles,
      config,
      resumeFrom,
      ...(bestCheckpoint ? { bestCheckpoint } : {}),
      ...(o.segment ? { untilStep: o.segment.untilStep } : {}),
      checkpointDir: checkpoints.dir,
      prepackWeights: !usesSharedWeightsFile(artifacts.files, config.mode),
      executionProviders: o.executionProvider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
    },
    {
      signal: o.abort,
      onLog: (message) => o.onLog?.(message),
      onCheckpoint: (m) => {
        void checkpoints.publish(m.path).then((uri) => {
          beat = m.reason === 'best' ? { ...beat, bestCheckpointUri: uri } : { ...beat, checkpointUri: uri };
          o.onProgress(beat);
        });
      },
      onStep: (m) => {
        // Throughput from the first step on: sessions opening and the base model's evaluation are not steps.
        if (firstStep === undefined) {
          firstStep = m.step;
          firstStepAt = Date.now();
        }
        stepsThisAttempt += 1;
        const seconds = (Date.now() - firstStepAt) / 1000;
        const tokensPerSecond = stepsThisAttempt > 1 ? Math.round((m.tokens * (stepsThisAttempt - 1)) / Math.max(seconds, 1e-3)) : 0;
        const etaSeconds = tokensPerSecond > 0 ? Math.round(((config.steps - m.step) * m.tokens) / tokensPerSecond) : undefined;
        beat = {
          ...beat,
          phase: 'training',
          step: m.step,
          totalSteps: config.steps,
          loss: m.loss,
          ...(m.valLoss !== undefined ? { valLoss: m.valLoss } : {}),
          bestValLoss: m.bestValLoss,
          dataCursor: m.cursor,
          tokensPerSecond,
          ...(etaSeconds !== undefined ? { etaSeconds } : {}),
        };
        o.onProgress(beat);
      },
    },
  );
  const onStop = () => run.stop();
  if (o.stop?.aborted) onStop();
  else o.stop?.addEventListener('abort', onStop, { once: true });
  let done: TrainDone;
  try {
    done = await run.done;
  } finally {
    o.stop?.removeEventListener('abort', onStop);
  }
  if (done.stoppedBy === 'cancelled') throw new FineTuneCancelled();

  const prefix = `training/runs/${runId}`;
  const curve = await store.writeText(
    `${prefix}/loss-curve.json`,
    `${JSON.stringify({ losses: done.losses, valLosses: done.valLosses }, null, 2)}\n`,
  );
  const chart = await store.writeText(
    `${prefix}/loss-curve.svg`,
    lossChartSvg(done.losses, done.valLosses, `${runId}: loss per step (${config.mode}, ${done.stoppedBy})`),
  );
  // The fine-tuned model, from the best checkpoint (else the last): a model folder with its inference
  // graph; a paused segment has no model yet.
  const source = done.bestCheckpoint ?? done.lastCheckpoint;
  let modelUri: string | undefined;
  if (source && done.stoppedBy !== 'paused') {
    o.onProgress({ ...beat, phase: 'export' });
    const out = await store.workspace(`${prefix}/model`);
    await exportFineTuned(modelDir, source, out.dir, Math.max(config.seq, 512));
    modelUri = await out.publish();
  }
  const published = (p?: string) => (p ? checkpoints.publish(p) : Promise.resolve(undefined));
  // Evaluation compares with the base model, maybe on another worker: it must be readable there
  // (a remote store copies it once; each file's copy heartbeats).
  const baseModelUri = await sharedBaseModelUri(store, modelDir, () => o.onProgress({ ...beat, phase: 'export' }));
  const bestCheckpointUri = await published(done.bestCheckpoint);
  // Resumed at its own pause point, a segment wrote no checkpoint: the one it resumed from is where it is.
  const lastCheckpointUri = (await published(done.lastCheckpoint)) ?? (done.step > 0 ? resumeUri : undefined);
  const lastValLoss = done.valLosses.find((v) => v.step === done.step)?.loss ?? null;
  return {
    steps: done.step,
    stoppedBy: done.stoppedBy,
    executionProvider: o.executionProvider,
    bestStep: done.bestStep,
    bestValLoss: done.bestValLoss,
    lastValLoss,
    baseValLoss: done.valLosses.find((v) => v.step === 0)?.loss ?? null,
    ...(bestCheckpointUri ? { bestCheckpointUri } : {}),
    ...(lastCheckpointUri ? { lastCheckpointUri } : {}),
    lossCurveUri: curve.uri,
    lossChartUri: chart.uri,
    ...(modelUri ? { modelUri } : {}),
    baseModelUri,
    artifactsManifestUri: artifacts.manifestUri,
    trainingKey: trainingKeyOf(manifestText, artifacts.key, config),
    resumedFromStep: resumeFrom && firstStep !== undefined ? firstStep - 1 : 0,
  };
}
