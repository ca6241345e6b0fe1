import { CancelledFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { PipelineMetrics } from './pipeline';

/**
 * Times every activity attempt of a worker and counts its outcome by stage (ok, failed,
 * cancelled); a finished attempt's result goes to `metrics.result`, which counts what the
 * stage did. The activities themselves stay as they are.
 */
export function activityMetrics(metrics: PipelineMetrics): ActivityInterceptorsFactory {
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        const type = ctx.info.activityType;
        const started = process.hrtime.bigint();
        metrics.started(type);
        const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
        try {
          const result = await next(input);
          metrics.stage(type, 'ok', seconds());
          try {
            metrics.result(type, result, input.args[0]);
          } catch {
            // A result the metrics do not understand never fails the activity.
          }
          return result;
        } catch (err) {
          metrics.stage(type, err instanceof CancelledFailure || ctx.cancellationSignal.aborted ? 'cancelled' : 'failed', seconds());
          throw err;
        }
      },
    },
  });
}
