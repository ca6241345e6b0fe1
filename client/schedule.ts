import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleHandle,
  type ScheduleOptions,
} from '@temporalio/client';
import { ScheduleSettingsSchema, parseWith, type PipelineInput, type ScheduleSettings } from '../shared/contracts';
import { checkPipelineInput } from './start';

/**
 * The input a nightly run is started with: the given pipeline input, validated, with
 * `train.skipIfUnchanged` on (a night with no new data ends before training) unless the input
 * says otherwise or `alwaysTrain` turns it off.
 */
export function scheduledInput(input: unknown, alwaysTrain = false): PipelineInput {
  checkPipelineInput(input);
  const given = input as PipelineInput & { train?: { skipIfUnchanged?: boolean } };
  return {
    ...given,
    train: { ...(given.train ?? {}), skipIfUnchanged: alwaysTrain ? false : (given.train?.skipIfUnchanged ?? true) },
  };
}

/** Schedule settings parsed, or an error naming every bad field. */
export function checkScheduleSettings(settings: unknown): ScheduleSettings {
  const parsed = parseWith(ScheduleSettingsSchema, 'schedule', settings);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.value;
}

function scheduleOptions(settings: ScheduleSettings, input: PipelineInput): ScheduleOptions {
  const [hour, minute] = settings.at.split(':').map(Number) as [number, number];
  return {
    scheduleId: settings.id,
    spec: { calendars: [{ hour, minute }], timezone: settings.timezone },
    action: {
      type: 'startWorkflow',
      workflowType: 'trainingPipelineWorkflow',
      taskQueue: settings.taskQueue,
      // Temporal appends the scheduled time to this id: one workflow id per night.
      workflowId: settings.id,
      args: [input],
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: settings.catchupWindowMinutes * 60_000, pauseOnFailure: false },
    memo: { pixel: 'nightly retrain' },
  };
}

const notFound = (id: string) => new Error(`no schedule ${id} (create it with \`pixel schedule create\`)`);

/** The handle of an existing schedule, or a clear error. */
async function existing(client: Client, id: string): Promise<ScheduleHandle> {
  const handle = client.schedule.getHandle(id);
  try {
    await handle.describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw notFound(id);
    throw err;
  }
  return handle;
}

/**
 * Creates the nightly retrain (or, with `replace`, changes an existing one's time, time zone,
 * catch-up window and stored input in place, keeping its history and paused state). Settings and
 * input come checked (`checkScheduleSettings`, `scheduledInput`), so nothing bad reaches Temporal.
 */
export async function createSchedule(
  client: Client,
  settings: ScheduleSettings,
  stored: PipelineInput,
  options: { replace?: boolean } = {},
): Promise<{ id: string; replaced: boolean }> {
  const wanted = scheduleOptions(settings, stored);
  try {
    await client.schedule.create(wanted);
    return { id: settings.id, replaced: false };
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    if (!options.replace) throw new Error(`schedule ${settings.id} already exists (change it with --replace, or \`pixel schedule delete\` it first)`);
  }
  await client.schedule.getHandle(settings.id).update((previous) => ({
    spec: wanted.spec,
    action: wanted.action,
    policies: wanted.policies,
    state: previous.state,
  }));
  return { id: settings.id, replaced: true };
}

/** What `pixel schedule describe` shows: plain data, no pipeline input text beyond its keys. */
export interface ScheduleSummary {
  id: string;
  paused: boolean;
  note?: string;
  calendar: string;
  timezone: string;
  overlap: string;
  catchupWindowMinutes: number;
  workflowType: string;
  taskQueue: string;
  skipIfUnchanged: boolean;
  nextRuns: string[];
  running: string[];
  recent: { scheduledAt: string; takenAt: string; workflowId: string }[];
  actionsTaken: number;
  skippedOverlap: number;
  missedCatchupWindow: number;
}

export function summarizeSchedule(d: ScheduleDescription): ScheduleSummary {
  const action = d.action;
  const args = action.type === 'startWorkflow' ? (action.args as unknown[] | undefined) : undefined;
  const input = (args?.[0] ?? {}) as { train?: { skipIfUnchanged?: boolean } };
  const calendars = d.spec.calendars ?? [];
  const two = (n: unknown) => String(n).padStart(2, '0');
  const calendar =
    calendars
      .map((c) => {
        const one = (r: unknown) => (Array.isArray(r) && r.length === 1 ? (r[0] as { start?: number }).start : undefined);
        const h = one(c.hour);
        const m = one(c.minute);
        return h !== undefined && m !== undefined ? `daily at ${two(h)}:${two(m)}` : 'calendar';
      })
      .join(', ') || 'other';
  return {
    id: d.scheduleId,
    paused: d.state.paused,
    ...(d.state.note ? { note: d.state.note } : {}),
    calendar,
    timezone: d.spec.timezone ?? 'UTC',
    overlap: String(d.policies.overlap),
    catchupWindowMinutes: Math.round(d.policies.catchupWindow / 60_000),
    workflowType: action.type === 'startWorkflow' ? action.workflowType : action.type,
    taskQueue: action.type === 'startWorkflow' ? action.taskQueue : '',
    skipIfUnchanged: input.train?.skipIfUnchanged === true,
    nextRuns: d.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()),
    running: d.info.runningActions.map((a) => a.workflow.workflowId),
    recent: d.info.recentActions.slice(-5).map((a) => ({
      scheduledAt: a.scheduledAt.toISOString(),
      takenAt: a.takenAt.toISOString(),
      workflowId: a.action.workflow.workflowId,
    })),
    actionsTaken: d.info.numActionsTaken,
    skippedOverlap: d.info.numActionsSkippedOverlap,
    missedCatchupWindow: d.info.numActionsMissedCatchupWindow,
  };
}

export async function describeSchedule(client: Client, id: string): Promise<ScheduleSummary> {
  const handle = client.schedule.getHandle(id);
  try {
    return summarizeSchedule(await handle.describe());
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw notFound(id);
    throw err;
  }
}

export async function pauseSchedule(client: Client, id: string, note = 'paused with pixel schedule pause'): Promise<void> {
  await (await existing(client, id)).pause(note);
}

export async function unpauseSchedule(client: Client, id: string, note = 'unpaused with pixel schedule unpause'): Promise<void> {
  await (await existing(client, id)).unpause(note);
}

/** Starts a run now, under the schedule's overlap policy: skipped while the previous run still runs. */
export async function triggerSchedule(client: Client, id: string): Promise<void> {
  // The SDK's trigger() allows overlap unless told otherwise: pass the schedule's own policy.
  await (await existing(client, id)).trigger(ScheduleOverlapPolicy.SKIP);
}

export async function deleteSchedule(client: Client, id: string): Promise<void> {
  await (await existing(client, id)).delete();
}
