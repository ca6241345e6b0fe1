import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { MONITORING_DIR } from '../shared/metrics/prometheus';
import { tempDir } from './helpers';

const run = promisify(execFile);
const promtool = process.env.PIXEL_PROMTOOL ?? 'promtool';

/** The alert rules under deploy/monitoring are checked and unit-tested by Prometheus's own promtool. */
describe('Prometheus alert rules (promtool)', () => {
  const rules = readdirSync(path.join(MONITORING_DIR, 'rules')).map((f) => path.join(MONITORING_DIR, 'rules', f));
  const tests = readdirSync(path.join(MONITORING_DIR, 'tests')).map((f) => path.join(MONITORING_DIR, 'tests', f));

  it('has rule files for safety, performance and the pipeline, each with its tests', () => {
    expect(rules.map((f) => path.basename(f)).sort()).toEqual(['performance.yml', 'pipeline.yml', 'safety.yml']);
    expect(tests.map((f) => path.basename(f)).sort()).toEqual(['performance.test.yml', 'pipeline.test.yml', 'safety.test.yml']);
  });

  it('passes promtool check rules', async () => {
    const { stdout } = await run(promtool, ['check', 'rules', ...rules]);
    expect(stdout.match(/SUCCESS/g)).toHaveLength(3);
  });

  it('passes promtool test rules (input series and the alerts they must and must not fire)', async () => {
    const { stdout } = await run(promtool, ['test', 'rules', ...tests], { cwd: path.join(MONITORING_DIR, 'tests') });
    expect(stdout.match(/SUCCESS/g)).toHaveLength(3);
    // Every alert the rule files define has at least one test that expects it to fire.
    const alerts = rules.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/^\s+- alert: (\w+)/gm)].map((m) => m[1]));
    const tested = new Set(
      tests.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels/g)].map((m) => m[1])),
    );
    expect(alerts.length).toBeGreaterThanOrEqual(12);
    expect(alerts.filter((a) => !tested.has(a as string))).toEqual([]);
  });

  it("passes promtool check config for the compose stack's Prometheus", async () => {
    const { stdout } = await run(promtool, ['check', 'config', path.join(MONITORING_DIR, 'prometheus.yml')]);
    expect(stdout).toMatch(/SUCCESS/);
  });

  it('fails a rule file with a broken expression (the check can fail)', async () => {
    const t = tempDir();
    const bad = path.join(t.dir, 'bad.yml');
    writeFileSync(bad, 'groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum(rate(x[5m])\n');
    try {
      await expect(run(promtool, ['check', 'rules', bad])).rejects.toThrow(/FAILED|parse error/);
    } finally {
      t.cleanup();
    }
  });
});
