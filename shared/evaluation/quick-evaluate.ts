import type { ArtifactStore } from '../artifacts';
import type { QuickEval, QuickEvaluateResult, SweepMetric, ValidationItem } from '../contracts';
import type { DetectionEngine } from '../safety/engine';
import { Rng } from '../util/rng';
import { modelFolder } from './evaluate-model';
import { runGenerationInThread } from './generation/run-generation';
import { scoreResponses } from './score';
import { readValidationSet } from './validation-set';

/**
 * The prompts of a quick evaluation: `n` items of the validation set, a third of them crisis
 * prompts where the set has them, drawn with the seed alone, so every model of a sweep answers
 * the same ones.
 */
export function quickItems(items: readonly ValidationItem[], n: number, seed: number): ValidationItem[] {
  const draw = (pool: readonly ValidationItem[], k: number, stream: string) => {
    const rng = Rng.for(seed, 'quick-eval', stream);
    const left = [...pool].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const out: ValidationItem[] = [];
    while (out.length < k && left.length > 0) out.push(left.splice(rng.int(left.length), 1)[0] as ValidationItem);
    return out;
  };
  const crisis = items.filter((i) => i.scenario === 'crisis');
  const others = items.filter((i) => i.scenario !== 'crisis');
  const wantCrisis = Math.min(crisis.length, Math.ceil(n / 3));
  const pickedOthers = draw(others, n - wantCrisis, 'others');
  // Too few other prompts: more crisis ones fill the set.
  return [...draw(crisis, n - pickedOthers.length, 'crisis'), ...pickedOthers];
}

const mean = (xs: readonly number[]) => (xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length);

/**
 * A small, fixed evaluation for comparing a sweep's trials: one model answers `quickEval.items`
 * validation prompts (greedy by default) in a worker thread, and the replies are scored as the
 * evaluation stage scores them. Means, not bootstrap intervals: the sweep compares trials on the
 * same prompts, it does not report them.
 */
export async function quickEvaluate(
  store: ArtifactStore,
  o: {
    modelUri: string;
    validationSetManifestUri: string;
    quickEval: QuickEval;
    seed: number;
    executionProvider: 'cpu' | 'cuda';
    engine: Pick<DetectionEngine, 'detect'>;
    signal?: AbortSignal;
    onProgress?: (p: { phase: string; done: number; total: number }) => void;
  },
): Promise<QuickEvaluateResult> {
  const started = Date.now();
  const modelDir = await modelFolder(store, o.modelUri, 'modelUri');
  const { items } = await readValidationSet(store, o.validationSetManifestUri);
  const picked = quickItems(items, o.quickEval.items, o.seed);
  const done = await runGenerationInThread(
    {
      modelDir,
      executionProviders: o.executionProvider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
      prompts: picked.map((i) => ({ id: i.id, messages: i.messages })),
      sampling: {
        maxNewTokens: o.quickEval.maxNewTokens,
        temperature: o.quickEval.temperature,
        seed: o.seed,
        batch: Math.min(16, Math.max(1, picked.length)),
      },
      lossRecords: [],
    },
    { signal: o.signal, onProgress: o.onProgress },
  );
  const scores = scoreResponses(picked, done.responses, o.engine);
  const protocol = scores.filter((s) => s.safety.crisisProtocol !== null);
  const metrics: Record<Exclude<SweepMetric, 'valLoss'>, number | null> = {
    quality: mean(scores.map((s) => s.quality)),
    empathy: mean(scores.map((s) => s.empathy.score)),
    clinical: mean(scores.map((s) => s.clinical.score)),
    safetyPassRate: mean(scores.map((s) => (s.safety.pass ? 1 : 0))),
    crisisProtocolRate: mean(protocol.map((s) => (s.safety.crisisProtocol!.pass ? 1 : 0))),
  };
  return {
    items: picked.length,
    crisisItems: picked.filter((i) => i.scenario === 'crisis').length,
    metrics: { ...metrics, valLoss: null },
    durationMs: Date.now() - started,
  };
}
