import { z } from 'zod';
import { CPU_TASK_QUEUE } from './task-queues';

/** The nightly retrain's schedule id unless another is given. */
export const DEFAULT_SCHEDULE_ID = 'pixel-nightly';

const isTimeZone = (zone: string): boolean => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
};

/**
 * How `pixel schedule create` sets up the nightly retrain: a Temporal Schedule that starts
 * `trainingPipelineWorkflow` with a stored input every day at `at` in `timezone`, skipping a
 * start while the previous run still runs, and taking a start missed while the server was down
 * if it is at most `catchupWindowMinutes` late.
 */
export const ScheduleSettingsSchema = z
  .object({
    id: z
      .string()
      .regex(/^[\w.:@-]{1,128}$/, 'may hold only letters, digits and . _ : @ - (at most 128)')
      .default(DEFAULT_SCHEDULE_ID),
    at: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time of day as HH:MM (24-hour), e.g. 02:00')
      .default('02:00'),
    timezone: z.string().max(64).refine(isTimeZone, 'is not an IANA time zone (e.g. UTC, Europe/Berlin)').default('UTC'),
    catchupWindowMinutes: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 60)
      .default(6 * 60),
    /** The task queue its runs start on (the CPU queue; tests use their own). */
    taskQueue: z.string().min(1).max(200).default(CPU_TASK_QUEUE),
  })
  .strict();
export type ScheduleSettings = z.output<typeof ScheduleSettingsSchema>;
