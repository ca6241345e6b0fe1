import { randomBytes } from 'node:crypto';
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { CPU_TASK_QUEUE, RUN_NAME, SweepInputSchema, parseWith, type SweepInput, type SweepLeaderboard, type SweepResult } from '../shared/contracts';
import { spaceProblem } from '../shared/sweep/leaderboard';
import { stopSweepUpdate, sweepLeaderboardQuery, widenSweepUpdate } from '../workflows/sweep-messages';

/** A readable, unique sweep id: `sweep-20261205-031500-3f2a`. */
export function newSweepId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `sweep-${stamp}-${randomBytes(2).toString('hex')}`;
}

/** The sweep input checked as the workflow will check it (schema and space), before anything connects. */
export function checkSweepInput(input: unknown): { name?: string } {
  const parsed = parseWith(SweepInputSchema, 'sweep input', input);
  if (!parsed.ok) throw new Error(parsed.message);
  if (parsed.value.state) throw new Error('sweep input: state is set by the sweep itself when it continues; leave it out');
  const problem = spaceProblem(parsed.value);
  if (problem) throw new Error(`sweep input: space: ${problem}`);
  return parsed.value.name ? { name: parsed.value.name } : {};
}

/** Starts `hyperparameterSweepWorkflow` on the CPU queue (trials then train on its GPU queue) with the raw input (defaults apply in one place). */
export async function startSweep(client: Client, input: unknown, options: { workflowId?: string; taskQueue?: string } = {}): Promise<WorkflowHandle> {
  const { name } = checkSweepInput(input);
  const id = options.workflowId ?? newSweepId();
  return client.workflow.start('hyperparameterSweepWorkflow', {
    taskQueue: options.taskQueue ?? CPU_TASK_QUEUE,
    workflowId: id,
    args: [input as SweepInput],
    typedSearchAttributes: [{ key: RUN_NAME, value: name ?? id }],
  });
}

/** A sweep's leaderboard: from the running workflow's query, or from its result once it has finished. */
export async function sweepStatus(client: Client, id: string): Promise<SweepLeaderboard | SweepResult> {
  const handle = client.workflow.getHandle(id);
  let description;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new Error(`no sweep ${id}`);
    throw err;
  }
  if (description.type !== 'hyperparameterSweepWorkflow') throw new Error(`${id} is a ${description.type}, not a sweep`);
  if (description.status.name === 'COMPLETED') return (await handle.result()) as SweepResult;
  if (description.status.name !== 'RUNNING') throw new Error(`sweep ${id} ended ${description.status.name.toLowerCase()}: no leaderboard`);
  return handle.query(sweepLeaderboardQuery);
}

export async function stopSweep(client: Client, id: string, reason?: string) {
  return client.workflow.getHandle(id).executeUpdate(stopSweepUpdate, { args: [reason ? { reason } : {}] });
}

export async function widenSweep(client: Client, id: string, trials: number) {
  return client.workflow.getHandle(id).executeUpdate(widenSweepUpdate, { args: [{ trials }] });
}

/** A short, log-safe summary of a sweep (ids, counts, figures; no text from data). */
export function summarizeSweep(board: SweepLeaderboard | SweepResult): string {
  const objectives = board.objectives.map((o) => `${o.name} (${o.direction === 'minimize' ? 'lower' : 'higher'} is better)`).join(', ');
  const lines = [
    `sweep ${board.name}: ${board.status}; ${board.started}/${board.budget} trials started: ${board.counts.completed} completed, ${board.counts.pruned} stopped early, ${board.counts.running} running, ${board.counts.failed} failed`,
    `  objectives: ${objectives}`,
    `  training steps: ${board.trainSteps} of ${board.fullSteps} without early stopping (${board.fullSteps > 0 ? Math.round((100 * board.trainSteps) / board.fullSteps) : 0}%)`,
  ];
  if (board.stopped) lines.push(`  stopped: ${board.stopped.reason}`);
  if (board.best)
    lines.push(
      `  best: trial ${board.best.index}: ${board.best.values.map((v, i) => `${board.objectives[i]?.name}=${v.toFixed(4)}`).join(', ')}`,
      `    ${Object.entries(board.best.params)
        .map(([k, v]) => `${k}=${typeof v === 'number' ? Number(v.toPrecision(4)) : String(v)}`)
        .join(' ')}`,
    );
  if (board.paretoFront.length > 1) lines.push(`  Pareto front: trials ${board.paretoFront.join(', ')}`);
  if ('reportHtmlUri' in board) lines.push(`  report: ${board.reportHtmlUri}`);
  return lines.join('\n');
}
