import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { stopChild } from '../shared/util/child';
import { freePort } from './helpers';

/**
 * SeaweedFS's `weed`, the S3-compatible server the store tests run against: `PIXEL_WEED`, else
 * the build `scripts/setup.sh --test` leaves in the vendor cache, else one on the PATH.
 */
export function findWeed(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.PIXEL_WEED) return existsSync(env.PIXEL_WEED) ? env.PIXEL_WEED : undefined;
  const vendored = path.join(env.PIXEL_CACHE ?? path.join(homedir(), '.cache', 'pixel'), 'vendor', 'seaweedfs', 'weed');
  if (existsSync(vendored)) return vendored;
  const found = spawnSync('sh', ['-c', 'command -v weed'], { encoding: 'utf8' });
  const bin = found.stdout.trim();
  return found.status === 0 && bin ? bin : undefined;
}

export interface RunningS3 {
  /** The S3 endpoint (`http://127.0.0.1:<port>`). */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The environment a Pixel process needs to use a bucket of this server (`AWS_*`, path style). */
  env: Record<string, string>;
  /** A client of this server, for a test's own checks. */
  client(): S3Client;
  /** Creates a bucket. */
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a real SeaweedFS (master, volume server, filer and S3 gateway in one process) on
 * loopback ports of its own, with one identity whose keys sign every request (the gateway
 * refuses unsigned ones), and waits until its S3 API answers.
 */
export async function startS3Server(o: { binary: string; dir: string; readyTimeoutMs?: number }): Promise<RunningS3> {
  mkdirSync(path.join(o.dir, 'data'), { recursive: true });
  const accessKeyId = 'pixeltest';
  const secretAccessKey = `pixel-${Math.random().toString(36).slice(2)}`;
  const config = path.join(o.dir, 's3.json');
  writeFileSync(
    config,
    JSON.stringify({
      identities: [
        {
          name: 'pixel',
          credentials: [{ accessKey: accessKeyId, secretKey: secretAccessKey }],
          actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
        },
      ],
    }),
  );
  const ports = { master: 0, masterGrpc: 0, volume: 0, volumeGrpc: 0, filer: 0, filerGrpc: 0, s3: 0, s3Grpc: 0 };
  for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
  const child = spawn(
    o.binary,
    [
      'server',
      `-dir=${path.join(o.dir, 'data')}`,
      '-ip=127.0.0.1',
      '-ip.bind=127.0.0.1',
      `-master.port=${ports.master}`,
      `-master.port.grpc=${ports.masterGrpc}`,
      '-master.volumeSizeLimitMB=64',
      `-volume.port=${ports.volume}`,
      `-volume.port.grpc=${ports.volumeGrpc}`,
      `-filer.port=${ports.filer}`,
      `-filer.port.grpc=${ports.filerGrpc}`,
      '-s3',
      `-s3.port=${ports.s3}`,
      `-s3.port.grpc=${ports.s3Grpc}`,
      '-s3.port.iceberg=0',
      '-s3.port.lance=0',
      // As on AWS: a write to a bucket that does not exist fails instead of creating it.
      '-s3.autoCreateBucket=false',
      `-s3.config=${config}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], cwd: o.dir },
  );
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const endpoint = `http://127.0.0.1:${ports.s3}`;
  const env = {
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    PIXEL_S3_FORCE_PATH_STYLE: 'true',
  };
  const client = () =>
    new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId, secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  const stop = () => stopChild(child);
  // Ready when a bucket can be created: the gateway answers, the filer and a volume are up.
  const deadline = Date.now() + (o.readyTimeoutMs ?? 60_000);
  const probe = client();
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`weed exited with ${child.exitCode} before it was ready: ${log.slice(-1000)}`);
    try {
      await probe.send(new CreateBucketCommand({ Bucket: `pixel-ready-${i}` }));
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`weed's S3 API did not become ready within ${o.readyTimeoutMs ?? 60_000} ms: ${String(err)}; log: ${log.slice(-1000)}`);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  probe.destroy();
  return {
    endpoint,
    accessKeyId,
    secretAccessKey,
    env,
    client,
    createBucket: async (name) => {
      const c = client();
      try {
        await c.send(new CreateBucketCommand({ Bucket: name }));
      } finally {
        c.destroy();
      }
    },
    stop,
  };
}
