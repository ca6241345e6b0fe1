import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { SEARCH_ATTRIBUTE_KEYS } from '../shared/contracts';
import { findTemporalCli } from '../client/temporal-cli';

/**
 * Starts one real Temporal dev server (the existing CLI binary, through @temporalio/testing)
 * for every workflow test file; each file uses its own task queue on it.
 */
export default async function globalSetup(): Promise<void> {
  // Tests train the small random model unless they name another: SmolLM2 (the default base
  // model of real runs) has tests of its own, and a whole pipeline on it takes minutes.
  process.env.PIXEL_BASE_MODEL ??= 'random-small';
  // The AWS SDK's notice that its 2027 releases need Node 22 (the lock file pins this one), once per thread.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // The models setup installed in the checkout (sentence encoder, PII tagger), also for the
  // stacks tests start with a PIXEL_HOME of their own.
  process.env.PIXEL_MODELS ??= path.resolve(__dirname, '..', '.pixel', 'models');
  // Tests write their source files under the system's temporary folder (and the benchmarks'
  // data sits beside the checkout): workers read sources only from these folders.
  process.env.PIXEL_SOURCE_ROOTS ??= [tmpdir(), path.resolve(__dirname, '..', '..', 'shared', 'data')].join(path.delimiter);
  const dir = mkdtempSync(path.join(tmpdir(), 'pixel-test-temporal-'));
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: findTemporalCli() },
      dbFilename: path.join(dir, 'temporal.db'),
      searchAttributes: [...SEARCH_ATTRIBUTE_KEYS],
      extraArgs: ['--log-level', 'error'],
    },
  });
  (globalThis as { __PIXEL_TEMPORAL__?: TestWorkflowEnvironment }).__PIXEL_TEMPORAL__ = env;
  process.env.PIXEL_TEST_TEMPORAL_ADDRESS = env.address;
}
