import type { ArtifactStore } from '../shared/artifacts';
import { SweepReportInputSchema, parseInput, type SweepReportInput, type SweepReportResult } from '../shared/contracts';
import { writeSweepReport } from '../shared/sweep/report';

/** The sweep's CPU-queue activity: its report (JSON and `sweep-report.html`, see `shared/sweep/report.ts`). */
export function createSweepActivities(store: ArtifactStore) {
  return {
    async writeSweepReportActivity(input: SweepReportInput): Promise<SweepReportResult> {
      const { sweepId, leaderboard } = parseInput(SweepReportInputSchema, 'writeSweepReport input', input);
      return writeSweepReport(store, sweepId, leaderboard);
    },
  };
}
