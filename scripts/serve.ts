import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { artifactStoreFromEnv } from '../shared/artifacts';
import { ModelRegistry } from '../shared/model-registry/model-registry';
import { BASE_MODEL_PRESETS, resolveBaseModel } from '../shared/training/model/base-model';
import { readInputFile } from '../shared/util/files';
import { startServing } from '../serving/start';
import { intOption } from './options';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** API keys from `--api-keys-file` (one per line, # comments) and `PIXEL_SERVE_API_KEYS` (comma-separated). */
export function apiKeysFrom(file: string | undefined, env: string | undefined): string[] {
  const keys: string[] = [];
  if (file) {
    for (const line of readInputFile(file, '--api-keys-file').split(/\r?\n/)) {
      const key = line.trim();
      if (key && !key.startsWith('#')) keys.push(key);
    }
  }
  if (env)
    keys.push(
      ...env
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean),
    );
  for (const [i, k] of keys.entries()) {
    if (!/^[\x21-\x7e]{16,512}$/.test(k)) throw new Error(`API key ${i + 1} must be 16 to 512 printable characters without spaces`);
  }
  return keys;
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description(
      "Serve the promoted model (the registry's current.json, followed as it changes) over an OpenAI-compatible chat API with Pixel's safety guardrails",
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on', intOption('--port', 0, 65_535), 8300)
    .option('--model <dir|preset>', `serve this model folder (or a preset: ${BASE_MODEL_PRESETS.join(', ')}) instead of the promoted model`)
    .option('--poll-ms <n>', 'how often the registry is checked for a new promotion', intOption('--poll-ms', 100, 3_600_000), 2000)
    .option('--max-batch <n>', 'requests decoded together', intOption('--max-batch', 1, 256), 8)
    .option('--max-queue <n>', 'requests waiting beyond the batch before 429', intOption('--max-queue', 0, 100_000), 32)
    .option('--max-tokens <n>', 'the most new tokens a request may ask for', intOption('--max-tokens', 1, 8192), 512)
    .option('--default-max-tokens <n>', 'new tokens when a request names none', intOption('--default-max-tokens', 1, 8192), 256)
    .option('--max-context <n>', 'prompt and reply tokens per request at most (bounds the KV cache)', intOption('--max-context', 16, 1_048_576), 4096)
    .option('--timeout-ms <n>', 'per-request time limit', intOption('--timeout-ms', 100, 3_600_000), 120_000)
    .option('--max-body-bytes <n>', 'largest request body', intOption('--max-body-bytes', 1024, 64 * 1024 * 1024), 1024 * 1024)
    .option('--threads <n>', 'onnxruntime threads for generation', intOption('--threads', 1, 64))
    .option('--api-keys-file <file>', 'bearer API keys, one per line (also PIXEL_SERVE_API_KEYS, comma-separated)')
    .option('--no-auth', 'serve without API keys on a non-loopback address (behind a gateway that authenticates)')
    .addOption(new Option('--crisis-model <mode>', 'crisis guardrail: learned screen or rules only').choices(['learned', 'rules']).default('learned'))
    .addOption(
      new Option('--prefill <precision>', "prompts' prefills: int8 (integer products, about 1.5x faster) or float32; decoding is float32 either way")
        .choices(['int8', 'float32'])
        .default('int8'),
    )
    .addOption(new Option('--person-model <mode>', 'names in replies: learned tagger or rules only').choices(['learned', 'rules']).default('learned'))
    .action(
      async (opts: {
        host: string;
        port: number;
        model?: string;
        pollMs: number;
        maxBatch: number;
        maxQueue: number;
        maxTokens: number;
        defaultMaxTokens: number;
        maxContext: number;
        timeoutMs: number;
        maxBodyBytes: number;
        threads?: number;
        apiKeysFile?: string;
        auth: boolean;
        crisisModel: 'learned' | 'rules';
        personModel: 'learned' | 'rules';
        prefill: 'int8' | 'float32';
      }) => {
        if (opts.defaultMaxTokens > opts.maxTokens) throw new Error('--default-max-tokens must not be above --max-tokens');
        const apiKeys = apiKeysFrom(opts.apiKeysFile, process.env.PIXEL_SERVE_API_KEYS);
        if (apiKeys.length === 0 && opts.auth && !LOOPBACK.has(opts.host))
          throw new Error(
            `--host ${opts.host} is not loopback: give API keys (--api-keys-file or PIXEL_SERVE_API_KEYS), or --no-auth behind a gateway`,
          );
        let model: { version: string; dir: string } | undefined;
        if (opts.model !== undefined) {
          const dir = await resolveBaseModel(opts.model);
          if (!existsSync(path.join(dir, 'config.json'))) throw new Error(`--model: no model folder at ${dir}`);
          model = { version: (BASE_MODEL_PRESETS as readonly string[]).includes(opts.model) ? opts.model : path.basename(dir), dir };
        }
        const running = await startServing({
          hostname: opts.host,
          port: opts.port,
          ...(model ? { model } : { store: artifactStoreFromEnv() }),
          pollMs: opts.pollMs,
          maxBatch: opts.maxBatch,
          maxQueue: opts.maxQueue,
          maxTokens: opts.maxTokens,
          defaultMaxTokens: opts.defaultMaxTokens,
          maxContext: opts.maxContext,
          timeoutMs: opts.timeoutMs,
          maxBodyBytes: opts.maxBodyBytes,
          apiKeys,
          crisisModel: opts.crisisModel,
          personModel: opts.personModel,
          prefill: opts.prefill,
          ...(opts.threads ? { threads: opts.threads } : {}),
        });
        console.error(
          `pixel serve: listening on ${running.url} (OpenAI base URL ${running.url}/v1, Prometheus metrics ${running.url}/metrics); SIGTERM or Ctrl-C stops it gracefully`,
        );
        await new Promise<void>((resolve) => {
          let stopping = false;
          const stop = () => {
            if (stopping) return;
            stopping = true;
            console.error('pixel serve: finishing requests in progress, then stopping');
            void running.close(30_000).then(resolve);
          };
          process.once('SIGTERM', stop);
          process.once('SIGINT', stop);
        });
      },
    );
}

export function registerModelRollbackCommand(model: Command): void {
  model
    .command('rollback')
    .description(
      "Point the registry's current model back to the version promoted before it (servers following the registry switch within their poll interval)",
    )
    .action(async () => {
      const result = await new ModelRegistry(artifactStoreFromEnv()).rollback();
      console.log(JSON.stringify(result));
    });
}
