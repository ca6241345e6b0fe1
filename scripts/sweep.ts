import { InvalidArgumentError, type Command } from 'commander';
import { connectTemporal } from '../client/connect';
import { workflowUiUrl } from '../client/env';
import { failureMessage } from '../client/follow';
import { checkSweepInput, startSweep, stopSweep, summarizeSweep, sweepStatus, widenSweep } from '../client/sweep';
import type { SweepResult } from '../shared/contracts';
import { writeFileReplacing } from '../shared/util/files';
import { intOption, readJsonInput } from './options';

/** Runs `fn` with a client of the stack's Temporal, closing the connection after. */
async function withClient<T>(
  fn: (
    client: Awaited<ReturnType<typeof connectTemporal>>['client'],
    settings: Awaited<ReturnType<typeof connectTemporal>>['settings'],
  ) => Promise<T>,
): Promise<T> {
  const { connection, client, settings } = await connectTemporal();
  try {
    return await fn(client, settings);
  } finally {
    await connection.close();
  }
}

function sweepId(value: string): string {
  if (!/^[\w.:@-]{1,200}$/.test(value)) throw new InvalidArgumentError('a sweep id holds only letters, digits and . _ : @ - (at most 200)');
  return value;
}

function taskQueueOption(value: string): string {
  if (!/^[\w.:@-]{1,200}$/.test(value)) throw new InvalidArgumentError('--task-queue holds only letters, digits and . _ : @ - (at most 200)');
  return value;
}

function reasonOption(value: string): string {
  if (value.length > 500 || [...value].some((c) => c.charCodeAt(0) < 32))
    throw new InvalidArgumentError('--reason must be one line of at most 500 characters');
  return value;
}

export function registerSweepCommands(program: Command): void {
  const sweep = program.command('sweep').description('Hyperparameter sweeps: TPE or random search with ASHA early stopping, durable on Temporal');
  sweep
    .command('start')
    .description('Start a sweep (input {} sweeps the default pipeline over the default space) and follow it')
    .option('--input <json>', 'sweep input as a JSON object (default {})')
    .option('--input-file <file>', 'read the sweep input from a JSON file')
    .option('--id <workflowId>', 'workflow id (default sweep-<time>-<random>)', sweepId)
    .option('--detach', 'print the sweep id and return without waiting')
    .option(
      '--task-queue <queue>',
      'the CPU task queue the sweep runs on (trials train on <queue>-gpu; default pixel-cpu and pixel-gpu)',
      taskQueueOption,
    )
    .addHelpText('after', '\nConnects to PIXEL_TEMPORAL_ADDRESS (default localhost:7233). Start the stack first with `pixel dev`.')
    .action(async (opts: { input?: string; inputFile?: string; id?: string; detach?: boolean; taskQueue?: string }) => {
      const input = readJsonInput(opts.input, opts.inputFile);
      checkSweepInput(input);
      await withClient(async (client, settings) => {
        const handle = await startSweep(client, input, {
          ...(opts.id ? { workflowId: opts.id } : {}),
          ...(opts.taskQueue ? { taskQueue: opts.taskQueue } : {}),
        });
        console.log(`started ${handle.workflowId}`);
        console.log(`  ${workflowUiUrl(settings, handle.workflowId)}`);
        if (opts.detach) return;
        let done = false;
        const result = (handle.result() as Promise<SweepResult>).finally(() => {
          done = true;
        });
        result.catch(() => undefined);
        let last = '';
        while (!done) {
          try {
            const board = await sweepStatus(client, handle.workflowId);
            const line = `${board.status}: ${board.started}/${board.budget} started, ${board.counts.completed} completed, ${board.counts.pruned} stopped early, ${board.counts.failed} failed${board.best ? `; best ${board.best.values[0]?.toFixed(4)} (trial ${board.best.index})` : ''}`;
            if (line !== last) console.log(line);
            last = line;
          } catch {
            // Not queryable yet (its first workflow task has not run): try again.
          }
          await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
        }
        try {
          console.log(summarizeSweep(await result));
        } catch (err) {
          throw new Error(`sweep ${handle.workflowId} failed: ${failureMessage(err)}`);
        }
      });
    });
  sweep
    .command('status <id>')
    .description("A sweep's leaderboard: trials by rank, counts, steps spent, Pareto front, best configuration")
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const sid = sweepId(id);
      const board = await withClient((client) => sweepStatus(client, sid));
      console.log(opts.json ? JSON.stringify(board, null, 2) : summarizeSweep(board));
    });
  sweep
    .command('stop <id>')
    .description('Start no new trial; running trials finish and every result is kept')
    .option('--reason <text>', 'why (shown in the UI)', reasonOption)
    .action(async (id: string, opts: { reason?: string }) => {
      const sid = sweepId(id);
      const r = await withClient((client) => stopSweep(client, sid, opts.reason));
      console.log(`stopping sweep ${id}: ${r.started} of ${r.budget} trials started; running ones finish`);
    });
  sweep
    .command('widen <id>')
    .description('Run more trials in a running sweep')
    .requiredOption('--trials <n>', 'trials to add', intOption('--trials', 1, 1000))
    .action(async (id: string, opts: { trials: number }) => {
      const sid = sweepId(id);
      const r = await withClient((client) => widenSweep(client, sid, opts.trials));
      console.log(`sweep ${id}: budget now ${r.budget} trials (${r.started} started)`);
    });
  sweep
    .command('best <id>')
    .description("The sweep's best configuration so far; --as-input prints it as a pipeline input (`pixel run --input-file`)")
    .option('--as-input', 'print the pipeline input that trains the best configuration, as JSON')
    .option('--out <file>', 'write it to this file instead of printing it')
    .action(async (id: string, opts: { asInput?: boolean; out?: string }) => {
      const sid = sweepId(id);
      const board = await withClient((client) => sweepStatus(client, sid));
      if (!board.best) throw new Error(`sweep ${id} has no finished trial yet`);
      const text = `${JSON.stringify(opts.asInput ? board.best.pipelineInput : board.best, null, 2)}\n`;
      if (opts.out) {
        await writeFileReplacing(opts.out, '--out', text);
        console.log(`wrote ${opts.asInput ? 'the pipeline input' : 'the best trial'} of sweep ${id} to ${opts.out}`);
      } else process.stdout.write(text);
    });
}
