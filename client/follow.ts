import { SingleBar } from 'cli-progress';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { getProgressQuery } from '../workflows/messages';
import type { PipelineProgress, PipelineResult } from '../shared/contracts';

/** What Pixel's activities heartbeat: records (prepare, safety, augment) or training figures. */
interface Heartbeat {
  phase?: string;
  read?: number;
  accepted?: number;
  quarantined?: number;
  total?: number;
  done?: number;
  step?: number;
  totalSteps?: number;
  loss?: number;
  valLoss?: number;
  tokensPerSecond?: number;
  etaSeconds?: number;
}

/** A heartbeat as a short line of figures (no text from the data is ever in a heartbeat). */
export function heartbeatLine(d: Heartbeat): string {
  if (d.step !== undefined) {
    return [
      `step ${d.step}${d.totalSteps ? `/${d.totalSteps}` : ''}`,
      d.loss !== undefined ? `loss ${d.loss.toFixed(3)}` : '',
      d.valLoss !== undefined ? `val loss ${d.valLoss.toFixed(3)}` : '',
      d.tokensPerSecond !== undefined ? `${d.tokensPerSecond} tokens/s` : '',
      d.etaSeconds !== undefined ? `ETA ${Math.round(d.etaSeconds)} s` : '',
    ]
      .filter(Boolean)
      .join(', ');
  }
  return [
    d.read !== undefined ? `read ${d.read}${d.total ? `/${d.total}` : ''}` : '',
    d.accepted !== undefined ? `accepted ${d.accepted}` : '',
    d.quarantined !== undefined ? `quarantined ${d.quarantined}` : '',
    d.done !== undefined ? `done ${d.done}${d.total ? `/${d.total}` : ''}` : '',
  ]
    .filter(Boolean)
    .join(', ');
}

export async function pendingHeartbeat(handle: WorkflowHandle): Promise<{ activity: string; details: Heartbeat } | undefined> {
  const description = await handle.describe();
  const pending = description.raw.pendingActivities?.[0];
  const payload = pending?.heartbeatDetails?.payloads?.[0];
  if (!pending || !payload) return undefined;
  return { activity: pending.activityType?.name ?? 'activity', details: defaultPayloadConverter.fromPayload<Heartbeat>(payload) };
}

/** Whole-failure chain as one line: "stage prepare failed: source ... not found". */
export function failureMessage(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err instanceof WorkflowFailedError ? err.cause : err;
  while (e instanceof Error && parts.length < 4) {
    if (!parts.some((p) => p.includes(e instanceof Error ? e.message : ''))) parts.push(e.message);
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join(' <- ') || String(err);
}

/**
 * Follows a pipeline run until it closes, showing its stage and the running activity's counts
 * (a progress bar on a terminal, a line per change otherwise). Resolves with the result or
 * throws the workflow's failure.
 */
export async function followPipeline(
  handle: WorkflowHandle,
  log: (line: string) => void = console.log,
  onStage?: (stage: string) => void,
): Promise<PipelineResult> {
  const tty = Boolean(process.stderr.isTTY);
  const bar = tty
    ? new SingleBar({ format: '  {stage} |{bar}| {value}/{total} records, {quarantined} quarantined', hideCursor: true, clearOnComplete: true })
    : undefined;
  let barStarted = false;
  let lastLine = '';
  let lastStage = '';
  let done = false;
  const result = (handle.result() as Promise<PipelineResult>).finally(() => {
    done = true;
  });
  result.catch(() => undefined);

  while (!done) {
    try {
      const progress: PipelineProgress = await handle.query(getProgressQuery);
      if (progress.currentStage !== lastStage) {
        lastStage = progress.currentStage;
        onStage?.(lastStage);
      }
      const beat = progress.status === 'running' ? await pendingHeartbeat(handle) : undefined;
      const d = beat?.details;
      const line = `stage ${progress.currentStage}${d ? `: ${d.phase ?? ''} ${heartbeatLine(d)}` : ''}`;
      if (bar && d && (d.read ?? 0) > 0) {
        const total = Math.max(d.total ?? 0, d.read ?? 0);
        if (!barStarted) {
          bar.start(total, d.read ?? 0, { stage: progress.currentStage, quarantined: d.quarantined ?? 0 });
          barStarted = true;
        }
        bar.setTotal(total);
        bar.update(d.read ?? 0, { stage: progress.currentStage, quarantined: d.quarantined ?? 0 });
      } else if (line !== lastLine && !barStarted) {
        log(line);
      }
      lastLine = line;
    } catch {
      // The run may not have had its first workflow task yet; try again.
    }
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
  }
  if (barStarted) bar?.stop();
  return result;
}

/** A short, log-safe summary of a finished run (ids and counts, no text). */
export function summarizeResult(result: PipelineResult): string {
  const d = result.dataset;
  const reasons =
    Object.entries(d.counts.byReason)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none';
  return [
    `run ${result.runName} completed`,
    `  prepare: ${d.counts.read} read, ${d.counts.accepted} accepted (train ${d.counts.bySplit.train}, val ${d.counts.bySplit.val}, test ${d.counts.bySplit.test}), ${d.counts.quarantined} quarantined (${reasons})${d.cacheHit ? ' [cached]' : ''}`,
    ...(result.safety
      ? [
          `  safety: ${result.safety.counts.kept} kept, ${result.safety.counts.rejected} rejected, ${result.safety.counts.crisis} crisis conversations labelled, ${result.safety.counts.piiRedacted} PII entities redacted`,
          `  safety report ${result.safety.reportUri}`,
        ]
      : []),
    ...(result.augment
      ? [
          `  augment: ${result.augment.counts.kept} copies of ${result.augment.counts.source} records (ratio ${result.augment.ratio}; ${Object.entries(
            result.augment.ratioByStrategy,
          )
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}), ${result.augment.counts.discarded} discarded (${
            Object.entries(result.augment.counts.discardedByReason)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ') || 'none'
          }), crisis share ${result.augment.crisisShare.before} -> ${result.augment.crisisShare.after}${result.augment.cacheHit ? ' [cached]' : ''}`,
          `  augment report ${result.augment.reportUri}`,
          `  augmented manifest ${result.augment.manifestUri}`,
        ]
      : []),
    ...(result.unchanged ? [`  ${result.unchanged.reason}: no training, evaluation, review or promotion (model ${result.unchanged.modelUri})`] : []),
    ...(result.train
      ? [
          `  train: ${result.train.steps} steps on ${result.train.executionProvider} (${result.train.stoppedBy}), validation loss ${result.train.baseValLoss?.toFixed(3) ?? '?'} before -> ${result.train.bestValLoss?.toFixed(3) ?? '?'} best (step ${result.train.bestStep})${result.train.resumedFromStep > 0 ? `, resumed from step ${result.train.resumedFromStep}` : ''}`,
          `  loss curve ${result.train.lossChartUri ?? result.train.lossCurveUri}`,
          ...(result.train.bestCheckpointUri ? [`  best checkpoint ${result.train.bestCheckpointUri}`] : []),
        ]
      : []),
    ...(result.evaluate
      ? [
          `  evaluate: ${result.evaluate.verdict.decision === 'better' ? 'BETTER' : 'NOT BETTER'}${result.evaluate.verdict.safetyBlocked ? ' (blocked by safety)' : ''} than the ${result.evaluate.baseline ? `${result.evaluate.baseline.kind} model` : 'nothing (no baseline)'}; ${result.evaluate.headline.items} prompts, test loss ${result.evaluate.headline.candidateLoss?.toFixed(3) ?? '?'} vs ${result.evaluate.headline.baselineLoss?.toFixed(3) ?? '?'}, safety pass ${(result.evaluate.headline.candidateSafetyPassRate * 100).toFixed(1)}%, ${result.evaluate.reviewItemIds.length} items for expert review`,
          ...result.evaluate.verdict.reasons.filter((r) => !r.passed).map((r) => `    ${r.blocking ? 'blocks' : 'fails'} ${r.rule}: ${r.detail}`),
          `  evaluation report ${result.evaluate.htmlUri}`,
        ]
      : []),
    ...(result.review
      ? [
          `  review: ${result.review.status.toUpperCase()} after ${result.review.reviews} reviews (pass rate ${(result.review.consensus.passRate * 100).toFixed(1)}%, mean ${result.review.consensus.meanScore.toFixed(2)}, alpha ${result.review.consensus.alpha?.toFixed(2) ?? 'n/a'})`,
          ...result.review.explanation.map((e) => `    ${e}`),
        ]
      : []),
    ...(result.promotion
      ? [
          result.promotion.promoted
            ? `  promoted: model version ${result.promotion.result?.version ?? '?'} is now current${result.promotion.result?.previous ? ` (was ${result.promotion.result.previous})` : ''}`
            : `  not promoted: ${result.promotion.reasons.join(' | ')}`,
        ]
      : []),
    `  dataset ${d.datasetSha}`,
    `  manifest ${d.manifestUri}`,
    `  quarantine ${d.quarantineUri}`,
  ].join('\n');
}
