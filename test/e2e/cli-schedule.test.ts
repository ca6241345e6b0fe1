import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { freePort, pixelFailure, runPixel, testEnvironment, uniqueQueue } from '../helpers';

/**
 * `pixel schedule` against the real dev server. No worker polls the schedule's task queue, so a
 * run it starts stays running: that is what a second start must be skipped against.
 */
describe('pixel schedule (the nightly retrain) on a real dev server', () => {
  let env: TestWorkflowEnvironment;
  const queue = uniqueQueue('schedule-test');
  const id = `nightly-${queue}`;
  let cli: { env: NodeJS.ProcessEnv };
  const started: string[] = [];

  beforeAll(async () => {
    env = await testEnvironment();
    cli = { env: { ...process.env, PIXEL_TEMPORAL_ADDRESS: process.env.PIXEL_TEST_TEMPORAL_ADDRESS } };
  });
  afterAll(async () => {
    await runPixel(['schedule', 'delete', '--id', id], cli).catch(() => undefined);
    for (const workflowId of started)
      await env.client.workflow
        .getHandle(workflowId)
        .terminate('test over')
        .catch(() => undefined);
  });

  const describeJson = async () =>
    JSON.parse((await runPixel(['schedule', 'describe', '--id', id, '--json'], cli)).stdout) as Record<string, unknown>;
  const until = async <T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const v = await read();
      if (ok(v)) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  it('refuses a bad time, time zone or input before it connects, in one line', async () => {
    const closed = { env: { ...process.env, PIXEL_TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` } };
    for (const [args, expected] of [
      [['--at', '25:00'], /schedule: at: must be a time of day as HH:MM/],
      [['--timezone', 'Mars/Olympus_Mons'], /schedule: timezone: is not an IANA time zone/],
      [['--input', '{"dta":{}}'], /unknown field "dta"/],
      [['--input', '{"train":{"config":{"steps":0}}}'], /train\.config\.steps/],
    ] as const) {
      const failure = await pixelFailure(['schedule', 'create', '--id', id, ...args], closed);
      expect(failure.code).toBe(1);
      expect(failure.stderr.trim().split('\n')).toHaveLength(1);
      expect(failure.stderr).toMatch(expected);
    }
  }, 60_000);

  it('creates a daily schedule, starts a run when triggered, skips a start while it runs, pauses, changes and deletes', async () => {
    const input = JSON.stringify({ runName: 'nightly', data: { source: { kind: 'synthetic', count: 50, seed: 3 } } });
    const created = await runPixel(
      ['schedule', 'create', '--id', id, '--at', '03:30', '--timezone', 'Europe/Berlin', '--task-queue', queue, '--input', input],
      cli,
    );
    expect(created.stdout).toContain(`created schedule ${id}`);
    const again = await pixelFailure(['schedule', 'create', '--id', id, '--task-queue', queue], cli);
    expect(again.stderr).toMatch(/already exists/);

    const d = await describeJson();
    expect(d).toMatchObject({ id, paused: false, calendar: 'daily at 03:30', timezone: 'Europe/Berlin', taskQueue: queue, skipIfUnchanged: true });
    expect(String(d.overlap)).toMatch(/SKIP/);
    const next = (d.nextRuns as string[])[0] as string;
    const berlin = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(
      new Date(next),
    );
    expect(berlin).toBe('03:30');

    await runPixel(['schedule', 'trigger', '--id', id], cli);
    const taken = await until(describeJson, (s) => (s.running as unknown[]).length === 1, 'the triggered run');
    const workflowId = (taken.running as string[])[0] as string;
    expect(workflowId.startsWith(`${id}-`)).toBe(true);
    expect((taken.recent as { workflowId: string }[]).map((r) => r.workflowId)).toEqual([workflowId]);
    started.push(workflowId);
    const run = await env.client.workflow.getHandle(workflowId).describe();
    expect(run.type).toBe('trainingPipelineWorkflow');
    expect(run.taskQueue).toBe(queue);
    // The stored input: as given, plus "end before training when nothing changed".
    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
    expect(JSON.parse(Buffer.from(payload as Uint8Array).toString('utf8'))).toMatchObject({ runName: 'nightly', train: { skipIfUnchanged: true } });

    // A second start while that run runs is skipped (overlap policy SKIP).
    await runPixel(['schedule', 'trigger', '--id', id], cli);
    const skipped = await until(describeJson, (s) => s.skippedOverlap === 1, 'the skipped start');
    expect(skipped).toMatchObject({ actionsTaken: 1, running: [workflowId] });

    await runPixel(['schedule', 'pause', '--id', id, '--note', 'clinic holiday'], cli);
    expect(await describeJson()).toMatchObject({ paused: true, note: 'clinic holiday' });
    await runPixel(['schedule', 'unpause', '--id', id], cli);
    expect(await describeJson()).toMatchObject({ paused: false });

    await runPixel(['schedule', 'pause', '--id', id], cli);
    const replaced = await runPixel(['schedule', 'create', '--id', id, '--at', '04:15', '--task-queue', queue, '--always-train', '--replace'], cli);
    expect(replaced.stdout).toContain(`changed schedule ${id}`);
    // Changed in place: the new time and input, still paused, its history kept.
    expect(await describeJson()).toMatchObject({
      calendar: 'daily at 04:15',
      timezone: 'UTC',
      paused: true,
      skipIfUnchanged: false,
      actionsTaken: 1,
    });

    const human = await runPixel(['schedule', 'describe', '--id', id], cli);
    expect(human.stdout).toContain(`schedule ${id}: PAUSED`);
    expect(human.stdout).toContain('1 started, 1 skipped while a run was running');

    await runPixel(['schedule', 'delete', '--id', id], cli);
    const gone = await pixelFailure(['schedule', 'describe', '--id', id], cli);
    expect(gone.code).toBe(1);
    expect(gone.stderr.trim()).toBe(`pixel: no schedule ${id} (create it with \`pixel schedule create\`)`);
  }, 120_000);
});
