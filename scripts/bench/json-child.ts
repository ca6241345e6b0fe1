import { spawn } from 'node:child_process';

/**
 * Runs a benchmark's child process (its own peak memory, or another runtime such as Python) and
 * returns the JSON object on the last line of its stdout. Its stderr (progress) passes through.
 * Fails with one line naming `label` when it cannot start, exits non-zero or prints no JSON.
 */
export function runJsonChild<T>(label: string, command: string, args: readonly string[], options: { cwd?: string } = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], ...options });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', (err) => reject(new Error(`${label}: ${err.message}`)));
    child.on('exit', (code, signal) => {
      if (code !== 0) return reject(new Error(`${label} failed (${signal ?? `exit ${code}`})`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as T);
      } catch {
        reject(new Error(`${label} printed no JSON`));
      }
    });
  });
}
