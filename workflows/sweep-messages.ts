import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { StopSweepInput, SweepControlResult, SweepLeaderboard, WidenSweepInput } from '../shared/contracts';

/** The sweep's trials ranked, the Pareto front and the best configuration so far. */
export const sweepLeaderboardQuery = defineQuery<SweepLeaderboard>('sweepLeaderboard');

/** From a person (UI, CLI): start no new trial; running trials finish and every result is kept. */
export const stopSweepUpdate = defineUpdate<SweepControlResult, [StopSweepInput]>('stopSweep');

/** From a person (UI, CLI): run this many more trials. */
export const widenSweepUpdate = defineUpdate<SweepControlResult, [WidenSweepInput]>('widenSweep');
