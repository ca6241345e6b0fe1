import { PIPELINE_STAGES, type PipelineProgress, type PipelineStageName, type StageProgress } from '../shared/contracts';

/**
 * The pipeline's progress as plain data, kept apart from Temporal so handlers stay one line and
 * the bookkeeping is unit-testable. `now` is passed in: inside a workflow it is workflow time.
 */
export class PipelineState {
  private readonly stages: StageProgress[] = PIPELINE_STAGES.map((name) => ({ name, status: 'pending' }));
  private status: PipelineProgress['status'] = 'running';
  private current = 'starting';
  private datasetSha: string | undefined;

  constructor(readonly runName: string) {}

  private stage(name: PipelineStageName): StageProgress {
    const found = this.stages.find((s) => s.name === name);
    if (!found) throw new Error(`unknown stage ${name}`);
    return found;
  }

  begin(name: PipelineStageName, now: Date): void {
    const s = this.stage(name);
    s.status = 'running';
    s.startedAt = now.toISOString();
    this.current = name;
  }

  complete(name: PipelineStageName, now: Date, counts: Record<string, number>, cacheHit?: boolean, artifacts?: Record<string, string>): void {
    const s = this.stage(name);
    s.status = 'completed';
    s.finishedAt = now.toISOString();
    if (s.startedAt) s.durationMs = now.getTime() - Date.parse(s.startedAt);
    s.counts = counts;
    if (cacheHit !== undefined) s.cacheHit = cacheHit;
    if (artifacts) s.artifacts = { ...artifacts };
  }

  /** Live counts of a running stage (shards done, ...). */
  progressCounts(name: PipelineStageName, counts: Record<string, number>): void {
    this.stage(name).counts = { ...counts };
  }

  fail(name: PipelineStageName, now: Date, error: string): void {
    this.end(name, now, 'failed');
    this.stage(name).error = error;
  }

  /** The run was cancelled (from the UI, the CLI or a parent) while `name` was running. */
  cancel(name: PipelineStageName, now: Date): void {
    this.end(name, now, 'cancelled');
  }

  /** The stage will not run, and why (shown in the UI's details and the result). */
  skip(name: PipelineStageName, reason: string): void {
    const s = this.stage(name);
    s.status = 'skipped';
    s.reason = reason;
  }

  private end(name: PipelineStageName, now: Date, status: 'failed' | 'cancelled'): void {
    const s = this.stage(name);
    s.status = status;
    s.finishedAt = now.toISOString();
    if (s.startedAt) s.durationMs = now.getTime() - Date.parse(s.startedAt);
    this.status = status;
    this.current = status;
  }

  finish(): void {
    this.status = 'completed';
    this.current = 'completed';
  }

  setDatasetSha(sha: string): void {
    this.datasetSha = sha;
  }

  get currentStage(): string {
    return this.current;
  }

  progress(): PipelineProgress {
    return {
      runName: this.runName,
      status: this.status,
      currentStage: this.current,
      stages: this.stages.map((s) => ({
        ...s,
        ...(s.counts ? { counts: { ...s.counts } } : {}),
        ...(s.artifacts ? { artifacts: { ...s.artifacts } } : {}),
      })),
      ...(this.datasetSha ? { datasetSha: this.datasetSha } : {}),
    };
  }

  stagesSnapshot(): StageProgress[] {
    return this.progress().stages;
  }

  /** Markdown for the Temporal UI's "current details". */
  details(): string {
    const lines = [`**${this.runName}**: ${this.status}, stage \`${this.current}\``, ''];
    for (const s of this.stages) {
      const counts = s.counts
        ? ' ' +
          Object.entries(s.counts)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')
        : '';
      const time = s.durationMs !== undefined ? ` (${(s.durationMs / 1000).toFixed(1)} s${s.cacheHit ? ', cached' : ''})` : '';
      lines.push(`- ${s.name}: ${s.status}${time}${counts}${s.error ? ` — ${s.error}` : ''}${s.reason ? ` — ${s.reason}` : ''}`);
    }
    if (this.datasetSha) lines.push('', `dataset \`${this.datasetSha.slice(0, 16)}\``);
    return lines.join('\n');
  }
}
