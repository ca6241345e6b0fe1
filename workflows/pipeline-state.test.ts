import { PipelineState } from './pipeline-state';

describe('PipelineState', () => {
  const t0 = new Date('2026-01-01T00:00:00Z');
  const t1 = new Date('2026-01-01T00:00:02.500Z');

  it('starts with every stage pending', () => {
    const s = new PipelineState('run-1');
    expect(s.progress()).toEqual({
      runName: 'run-1',
      status: 'running',
      currentStage: 'starting',
      stages: [
        { name: 'prepare', status: 'pending' },
        { name: 'safety', status: 'pending' },
        { name: 'augment', status: 'pending' },
        { name: 'train', status: 'pending' },
        { name: 'evaluate', status: 'pending' },
        { name: 'review', status: 'pending' },
        { name: 'promote', status: 'pending' },
      ],
    });
  });

  it('records timings, counts and cache hits of a completed stage', () => {
    const s = new PipelineState('run-1');
    s.begin('prepare', t0);
    expect(s.currentStage).toBe('prepare');
    s.complete('prepare', t1, { read: 10, accepted: 9 }, true);
    s.setDatasetSha('abc');
    s.finish();
    const p = s.progress();
    expect(p.status).toBe('completed');
    expect(p.datasetSha).toBe('abc');
    expect(p.stages[0]).toMatchObject({ status: 'completed', durationMs: 2500, counts: { read: 10, accepted: 9 }, cacheHit: true });
    expect(s.details()).toContain('prepare: completed (2.5 s, cached) read 10, accepted 9');
  });

  it('marks the run failed with the stage error', () => {
    const s = new PipelineState('r');
    s.begin('prepare', t0);
    s.fail('prepare', t1, 'stage prepare failed: source missing');
    expect(s.progress()).toMatchObject({
      status: 'failed',
      currentStage: 'failed',
      stages: [
        { status: 'failed', error: 'stage prepare failed: source missing' },
        { status: 'pending' },
        { status: 'pending' },
        { status: 'pending' },
        { status: 'pending' },
        { status: 'pending' },
        { status: 'pending' },
      ],
    });
  });

  it('returns copies that callers cannot use to change its state', () => {
    const s = new PipelineState('r');
    s.begin('prepare', t0);
    s.complete('prepare', t1, { read: 1 });
    const p = s.progress();
    p.stages[0]!.counts!.read = 99;
    expect(s.progress().stages[0]?.counts?.read).toBe(1);
  });
});

describe('PipelineState cancellation', () => {
  it('marks the stage and the run cancelled, with no error', () => {
    const s = new PipelineState('r');
    s.begin('prepare', new Date(0));
    s.cancel('prepare', new Date(1500));
    expect(s.progress()).toMatchObject({
      status: 'cancelled',
      currentStage: 'cancelled',
      stages: [
        { status: 'cancelled', durationMs: 1500 },
        { status: 'pending' },
        { status: 'pending' },
        { status: 'pending' },
        { status: 'pending' },
        { status: 'pending' },
        { status: 'pending' },
      ],
    });
    expect(s.progress().stages[0]?.error).toBeUndefined();
  });
});
