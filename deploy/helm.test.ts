import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { CPU_TASK_QUEUE, GPU_TASK_QUEUE } from '../shared/contracts';
import { tempDir } from '../test/helpers';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');
const CHART = path.join(ROOT, 'deploy', 'helm', 'pixel');
const VENDOR = path.join(process.env.PIXEL_CACHE ?? path.join(process.env.HOME ?? '/root', '.cache', 'pixel'), 'vendor', 'helm');
const onPath = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).stdout.trim();
const HELM = process.env.HELM ?? (onPath('helm') || path.join(VENDOR, 'helm'));
const VALIDATE = path.join(VENDOR, 'validate');

interface Container {
  command: string[];
  env: { name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string } } }[];
  resources: { limits: Record<string, unknown> };
  livenessProbe: { httpGet: { path: string } };
  readinessProbe: { httpGet: { path: string } };
}

/** What the tests read of a rendered object (the fields of the kinds they look at). */
interface K8sObject {
  kind: string;
  metadata: { name: string };
  spec: {
    replicas?: number;
    template: { spec: { containers: Container[]; nodeSelector?: unknown; tolerations?: unknown; volumes?: unknown[] } };
    scaleTargetRef: { name: string };
    minAvailable: number;
    tls: { secretName: string }[];
    triggers: { metadata: { taskQueue: string } }[];
    endpoints: { port: string }[];
    groups: { rules: { alert?: string }[] }[];
  };
}

async function render(...values: string[]): Promise<{ text: string; objects: K8sObject[] }> {
  const { stdout } = await run(HELM, ['template', 'pixel', CHART, ...values.flatMap((v) => ['--values', v])], { maxBuffer: 16 * 1024 * 1024 });
  const objects = parseAllDocuments(stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
  return { text: stdout, objects };
}

const find = (objects: K8sObject[], kind: string, name: string) => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} in ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
};
const container = (o: K8sObject): Container => o.spec.template.spec.containers[0] as Container;

/** The Helm chart: linted, rendered for the default and production values, and checked against the Kubernetes API's types. */
describe('Helm chart (deploy/helm/pixel)', () => {
  const production = path.join(CHART, 'values-production.yaml');

  beforeAll(() => {
    if (!existsSync(HELM) && !onPath('helm')) throw new Error(`helm is missing: run bash scripts/setup.sh --test (it builds helm into ${VENDOR})`);
    if (!existsSync(VALIDATE)) throw new Error(`the manifest validator is missing: run bash scripts/setup.sh --test (it builds ${VALIDATE})`);
  });

  it('lints with the default and the production values', async () => {
    for (const values of [[], ['--values', production]]) {
      const { stdout } = await run(HELM, ['lint', CHART, ...values]);
      expect(stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  it.each([
    ['default', [] as string[]],
    ['production', [production]],
  ])('renders manifests the Kubernetes API types accept, strictly (%s values)', async (_name, values) => {
    const { text } = await render(...values);
    const checked = spawnSync(VALIDATE, [], { input: text, encoding: 'utf8' });
    expect(checked.stderr).toBe('');
    expect(checked.status).toBe(0);
    expect(checked.stdout).toMatch(/^validated (\d+) objects against the Kubernetes API types/);
  });

  it('the validator refuses a wrong type and an unknown field (the check can fail)', () => {
    const deployment = (spec: string) => `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n${spec}`;
    const wrongType = spawnSync(VALIDATE, [], { input: deployment('  replicas: "two"\n'), encoding: 'utf8' });
    expect(wrongType.status).toBe(1);
    expect(wrongType.stderr).toMatch(/document 1: Deployment x: .*replicas/);
    const unknown = spawnSync(VALIDATE, [], { input: deployment('  replicas: 1\n  replica: 2\n'), encoding: 'utf8' });
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/unknown field "spec.replica"/);
  });

  it('runs the workers, the review page and the chat API as the code expects them', async () => {
    const { objects } = await render();
    const cpu = container(find(objects, 'Deployment', 'pixel-cpu-worker'));
    const gpu = find(objects, 'Deployment', 'pixel-gpu-worker');
    expect(cpu.command).toEqual(['node', '--import', 'tsx', 'workers/cpu-worker.ts']);
    expect(container(gpu).command).toEqual(['node', '--import', 'tsx', 'workers/gpu-worker.ts']);
    for (const file of ['workers/cpu-worker.ts', 'workers/gpu-worker.ts', 'bin/pixel.js']) expect(existsSync(path.join(ROOT, file))).toBe(true);
    // GPU: the device resource, GPU nodes and their taint.
    expect(container(gpu).resources.limits['nvidia.com/gpu']).toBe(1);
    expect(gpu.spec.template.spec.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
    expect(gpu.spec.template.spec.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    // Every worker gets Temporal's address, the shared artifacts and its metrics address.
    const env = Object.fromEntries((cpu.env as { name: string; value?: string }[]).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      PIXEL_TEMPORAL_ADDRESS: 'temporal-frontend.temporal.svc:7233',
      PIXEL_ARTIFACTS: '/artifacts',
      PIXEL_METRICS_ADDRESS: '0.0.0.0:9464',
    });
    // The chat API: probes on /healthz and /readyz, an HPA and a PDB; without keys it says --no-auth.
    const serving = container(find(objects, 'Deployment', 'pixel-serving'));
    expect(serving.livenessProbe.httpGet.path).toBe('/healthz');
    expect(serving.readinessProbe.httpGet.path).toBe('/readyz');
    expect(serving.command).toContain('--no-auth');
    expect(find(objects, 'HorizontalPodAutoscaler', 'pixel-serving').spec.scaleTargetRef.name).toBe('pixel-serving');
    expect(find(objects, 'PodDisruptionBudget', 'pixel-serving').spec.minAvailable).toBe(1);
    // The review page reads its signing secret from the named Secret.
    const review = container(find(objects, 'Deployment', 'pixel-review'));
    expect(review.env.find((e) => e.name === 'PIXEL_REVIEW_SECRET')?.valueFrom?.secretKeyRef).toEqual({
      name: 'pixel-review',
      key: 'review-secret',
    });
  });

  it("production: API keys from a Secret, ingress with TLS, KEDA on Pixel's task queues, and Pixel's alert rules for the Prometheus Operator", async () => {
    const { objects } = await render(production);
    const serving = find(objects, 'Deployment', 'pixel-serving');
    expect(container(serving).command).not.toContain('--no-auth');
    expect(container(serving).command).toEqual(expect.arrayContaining(['--api-keys-file', '/etc/pixel/api-keys']));
    expect(serving.spec.template.spec.volumes).toContainEqual({
      name: 'api-keys',
      secret: { secretName: 'pixel-serving-keys', items: [{ key: 'api-keys', path: 'api-keys' }] },
    });
    expect(find(objects, 'Ingress', 'pixel').spec.tls[0]?.secretName).toBe('pixel-tls');
    // Replicas come from KEDA, so the Deployments name none.
    expect(find(objects, 'Deployment', 'pixel-cpu-worker').spec.replicas).toBeUndefined();
    expect(find(objects, 'ScaledObject', 'pixel-cpu-worker').spec.triggers[0]?.metadata.taskQueue).toBe(CPU_TASK_QUEUE);
    expect(find(objects, 'ScaledObject', 'pixel-gpu-worker').spec.triggers[0]?.metadata.taskQueue).toBe(GPU_TASK_QUEUE);
    expect(find(objects, 'ServiceMonitor', 'pixel').spec.endpoints.map((e) => e.port)).toEqual(['metrics', 'http']);
    // The PrometheusRule carries every group and alert of deploy/monitoring/rules, and promtool accepts it.
    const rule = find(objects, 'PrometheusRule', 'pixel');
    const alerts = rule.spec.groups.flatMap((g) => g.rules.map((r) => r.alert).filter(Boolean));
    const rulesDir = path.join(ROOT, 'deploy', 'monitoring', 'rules');
    const expected = readdirSync(rulesDir).flatMap((f) =>
      [...readFileSync(path.join(rulesDir, f), 'utf8').matchAll(/^\s+- alert: (\w+)/gm)].map((m) => m[1]),
    );
    expect([...alerts].sort()).toEqual([...expected].sort());
    const t = tempDir();
    try {
      const file = path.join(t.dir, 'rules.yml');
      writeFileSync(file, JSON.stringify({ groups: rule.spec.groups }));
      const { stdout } = await run(process.env.PIXEL_PROMTOOL ?? 'promtool', ['check', 'rules', file]);
      expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
    } finally {
      t.cleanup();
    }
  });

  it('puts every pod on the S3 bucket with its own cache (production), or on the shared claim (default); refuses a store that is neither', async () => {
    const pods = (objects: K8sObject[]) => objects.filter((o) => o.kind === 'Deployment');
    const { objects } = await render(production);
    expect(
      pods(objects)
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['pixel-cpu-worker', 'pixel-gpu-worker', 'pixel-review', 'pixel-serving']);
    for (const pod of pods(objects)) {
      const env = container(pod).env;
      const value = (name: string) => env.find((e) => e.name === name);
      expect({ pod: pod.metadata.name, artifacts: value('PIXEL_ARTIFACTS')?.value, cache: value('PIXEL_ARTIFACTS_CACHE')?.value }).toEqual({
        pod: pod.metadata.name,
        artifacts: 's3://pixel-prod-artifacts/pixel',
        cache: '/cache',
      });
      expect(value('AWS_SECRET_ACCESS_KEY')?.valueFrom?.secretKeyRef).toEqual({ name: 'pixel-s3', key: 'AWS_SECRET_ACCESS_KEY' });
      expect(pod.spec.template.spec.volumes).toContainEqual({ name: 'cache', emptyDir: { sizeLimit: '200Gi' } });
      expect(JSON.stringify(pod.spec.template.spec.volumes)).not.toMatch(/persistentVolumeClaim/);
    }
    const local = pods((await render()).objects);
    for (const pod of local)
      expect(pod.spec.template.spec.volumes).toContainEqual({ name: 'artifacts', persistentVolumeClaim: { claimName: 'pixel-artifacts' } });
    // A server other than AWS's: its endpoint and path-style addressing reach the pods.
    const { stdout } = await run(HELM, [
      'template',
      'pixel',
      CHART,
      '--set',
      'artifacts.s3.uri=s3://pixel/artifacts',
      '--set',
      'artifacts.s3.endpoint=http://seaweedfs.storage.svc:8333',
      '--set',
      'artifacts.s3.forcePathStyle=true',
    ]);
    expect(stdout).toMatch(/- name: AWS_ENDPOINT_URL_S3\n\s+value: "http:\/\/seaweedfs.storage.svc:8333"/);
    expect(stdout).toMatch(/- name: PIXEL_S3_FORCE_PATH_STYLE\n\s+value: "true"/);
    await expect(run(HELM, ['template', 'pixel', CHART, '--set', 'artifacts.s3.uri=https://bucket.example.com/x'])).rejects.toThrow(
      /artifacts.s3.uri must be an s3:\/\/ URI/,
    );
    await expect(run(HELM, ['template', 'pixel', CHART, '--set', 'artifacts.existingClaim='])).rejects.toThrow(
      /artifacts needs s3.uri \(s3:\/\/bucket\/prefix\) or existingClaim/,
    );
  });

  it('refuses a review page without a signing secret, naming the setting', async () => {
    await expect(run(HELM, ['template', 'pixel', CHART, '--set', 'review.existingSecret='])).rejects.toThrow(
      /review.enabled needs review.existingSecret \(a Secret with key review-secret\) or review.secret/,
    );
  });

  it('scripts/deploy.sh --dry-run lints and renders without a cluster; bad arguments exit 2 with one line', async () => {
    const env = { ...process.env, HELM };
    const { stdout, stderr } = await run('bash', [path.join(ROOT, 'scripts', 'deploy.sh'), '--dry-run', '--values', production], {
      env,
      maxBuffer: 16 * 1024 * 1024,
    });
    expect(stdout).toMatch(/kind: Deployment/);
    expect(stderr).toMatch(/deploy: dry run: chart linted and rendered for release pixel in namespace pixel; nothing applied/);
    for (const [args, message] of [
      [['--dry-run', '--release', 'Bad_Name'], /--release must be a DNS label/],
      [['--dry-run', '--values', '/nonexistent.yaml'], /values file not found/],
      [['--frobnicate'], /unknown option --frobnicate/],
    ] as const) {
      const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'deploy.sh'), ...args], { env, encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  });
});
