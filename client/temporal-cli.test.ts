import { chmodSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../test/helpers';
import { findTemporalCli, searchAttributeFlags } from './temporal-cli';

describe('findTemporalCli', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('prefers TEMPORAL_CLI_PATH', () => {
    const t = tempDir();
    try {
      const bin = path.join(t.dir, 'my-temporal');
      writeFileSync(bin, '#!/bin/sh\n');
      chmodSync(bin, 0o755);
      process.env.TEMPORAL_CLI_PATH = bin;
      expect(findTemporalCli()).toBe(bin);
    } finally {
      t.cleanup();
    }
  });

  it('rejects a TEMPORAL_CLI_PATH that is not executable, naming it', () => {
    process.env.TEMPORAL_CLI_PATH = '/nonexistent/temporal';
    expect(() => findTemporalCli()).toThrow('TEMPORAL_CLI_PATH=/nonexistent/temporal is not an executable file');
  });

  it('finds the CLI that setup installed', () => {
    delete process.env.TEMPORAL_CLI_PATH;
    expect(path.basename(findTemporalCli())).toMatch(/^temporal/);
  });
});

describe('searchAttributeFlags', () => {
  it('registers every Pixel search attribute with its type', () => {
    expect(searchAttributeFlags()).toEqual([
      '--search-attribute',
      'PipelineStage=Keyword',
      '--search-attribute',
      'DatasetSha=Keyword',
      '--search-attribute',
      'RunName=Keyword',
      '--search-attribute',
      'CrisisCount=Int',
      '--search-attribute',
      'UnredactedPii=Bool',
      '--search-attribute',
      'SweepBestValue=Double',
      '--search-attribute',
      'SweepTrialsDone=Int',
    ]);
  });
});
