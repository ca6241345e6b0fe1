import { InvalidArgumentError, type Command } from 'commander';
import { connectTemporal } from '../client/connect';
import {
  checkScheduleSettings,
  createSchedule,
  deleteSchedule,
  describeSchedule,
  pauseSchedule,
  scheduledInput,
  triggerSchedule,
  unpauseSchedule,
  type ScheduleSummary,
} from '../client/schedule';
import { DEFAULT_SCHEDULE_ID } from '../shared/contracts';
import { intOption, readJsonInput } from './options';

/** Runs `fn` with a client of the stack's Temporal, closing the connection after. */
async function withClient<T>(fn: (client: Awaited<ReturnType<typeof connectTemporal>>['client']) => Promise<T>): Promise<T> {
  const { connection, client } = await connectTemporal();
  try {
    return await fn(client);
  } finally {
    await connection.close();
  }
}

const idOption = ['--id <id>', 'the schedule id', DEFAULT_SCHEDULE_ID] as const;

function noteOption(value: string): string {
  if (value.length > 200 || [...value].some((c) => c.charCodeAt(0) < 32))
    throw new InvalidArgumentError('--note must be one line of at most 200 characters');
  return value;
}

function printSummary(s: ScheduleSummary): void {
  console.log(`schedule ${s.id}: ${s.paused ? 'PAUSED' : 'active'}${s.note ? ` (${s.note})` : ''}`);
  console.log(`  ${s.calendar} ${s.timezone}; overlap ${s.overlap}; catch-up window ${s.catchupWindowMinutes} min`);
  console.log(`  starts ${s.workflowType} on ${s.taskQueue}${s.skipIfUnchanged ? ', ending before training when nothing changed' : ''}`);
  console.log(`  next: ${s.nextRuns.join(', ') || 'none'}`);
  console.log(`  running: ${s.running.join(', ') || 'none'}`);
  for (const r of s.recent) console.log(`  started ${r.workflowId} at ${r.takenAt}`);
  console.log(`  ${s.actionsTaken} started, ${s.skippedOverlap} skipped while a run was running, ${s.missedCatchupWindow} missed`);
}

export function registerScheduleCommands(program: Command): void {
  const schedule = program
    .command('schedule')
    .description('The nightly retrain: a Temporal Schedule that starts the training pipeline every day (Schedules page of the Temporal UI)');
  schedule
    .command('create')
    .description('Create the nightly retrain (default 02:00 UTC, a start skipped while the previous run runs)')
    .option(...idOption)
    .option('--at <HH:MM>', 'time of day', '02:00')
    .option('--timezone <zone>', 'IANA time zone of --at (e.g. Europe/Berlin)', 'UTC')
    .option('--catchup-window <minutes>', 'take a start missed while the server was down if at most this late', intOption('--catchup-window', 1), 360)
    .option('--input <json>', 'the pipeline input every run starts with (default {})')
    .option('--input-file <file>', 'read the pipeline input from a JSON file')
    .option('--always-train', 'train every night, even when data, config and base model are those of the promoted model')
    .option('--task-queue <queue>', 'the task queue runs start on (default the CPU queue)')
    .option('--replace', 'change an existing schedule in place (keeps its history and paused state)')
    .addHelpText('after', '\nConnects to PIXEL_TEMPORAL_ADDRESS (default localhost:7233). Start the stack first with `pixel dev`.')
    .action(
      async (opts: {
        id: string;
        at: string;
        timezone: string;
        catchupWindow: number;
        input?: string;
        inputFile?: string;
        alwaysTrain?: boolean;
        taskQueue?: string;
        replace?: boolean;
      }) => {
        // Checked before anything connects: a bad time or input says so at once.
        const given = readJsonInput(opts.input, opts.inputFile);
        const settings = checkScheduleSettings({
          id: opts.id,
          at: opts.at,
          timezone: opts.timezone,
          catchupWindowMinutes: opts.catchupWindow,
          ...(opts.taskQueue ? { taskQueue: opts.taskQueue } : {}),
        });
        const stored = scheduledInput(given, opts.alwaysTrain);
        const done = await withClient((client) => createSchedule(client, settings, stored, { replace: opts.replace }));
        console.log(`${done.replaced ? 'changed' : 'created'} schedule ${done.id}: daily at ${opts.at} ${opts.timezone}`);
      },
    );
  schedule
    .command('describe')
    .description('Show a schedule: paused or not, next starts, running and recent runs, skipped starts')
    .option(...idOption)
    .option('--json', 'print JSON')
    .action(async (opts: { id: string; json?: boolean }) => {
      const summary = await withClient((client) => describeSchedule(client, opts.id));
      if (opts.json) console.log(JSON.stringify(summary, null, 2));
      else printSummary(summary);
    });
  const pauseCommand = (name: 'pause' | 'unpause', description: string, act: typeof pauseSchedule) =>
    schedule
      .command(name)
      .description(description)
      .option(...idOption)
      .option('--note <text>', 'why (shown in the UI)', noteOption)
      .action(async (opts: { id: string; note?: string }) => {
        await withClient((client) => act(client, opts.id, opts.note));
        console.log(`${name}d schedule ${opts.id}`);
      });
  pauseCommand('pause', 'Stop starting runs (a running one goes on)', pauseSchedule);
  pauseCommand('unpause', 'Start runs again at the scheduled times', unpauseSchedule);
  schedule
    .command('trigger')
    .description('Start a run now (skipped, like a scheduled start, while the previous run still runs)')
    .option(...idOption)
    .action(async (opts: { id: string }) => {
      await withClient((client) => triggerSchedule(client, opts.id));
      console.log(`triggered schedule ${opts.id} (see \`pixel schedule describe\` for the run it started or skipped)`);
    });
  schedule
    .command('delete')
    .description('Delete the schedule (runs it started go on)')
    .option(...idOption)
    .action(async (opts: { id: string }) => {
      await withClient((client) => deleteSchedule(client, opts.id));
      console.log(`deleted schedule ${opts.id}`);
    });
}
