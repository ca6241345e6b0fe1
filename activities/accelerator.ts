import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface GpuInfo {
  name: string;
  memoryMiB: number;
}

export interface AcceleratorInfo {
  /** The execution provider GPU-queue work will use on this worker. */
  executionProvider: 'cuda' | 'cpu';
  gpus: GpuInfo[];
  /** Why the worker chose it, for logs and the UI. */
  reason: string;
}

/** Parses `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(output: string): GpuInfo[] {
  return output
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const cut = line.lastIndexOf(',');
      return { name: line.slice(0, cut).trim(), memoryMiB: Number(line.slice(cut + 1).trim()) };
    })
    .filter((gpu) => gpu.name.length > 0 && Number.isFinite(gpu.memoryMiB));
}

/**
 * Finds NVIDIA GPUs with `nvidia-smi`. `PIXEL_EXECUTION_PROVIDER=cpu` forces the CPU. Without a
 * GPU the GPU worker still runs, on the CPU execution provider, and says so.
 */
export async function detectAccelerator(): Promise<AcceleratorInfo> {
  if (process.env.PIXEL_EXECUTION_PROVIDER === 'cpu') {
    return { executionProvider: 'cpu', gpus: [], reason: 'PIXEL_EXECUTION_PROVIDER=cpu' };
  }
  try {
    const { stdout } = await run('nvidia-smi', ['--query-gpu=name,memory.total', '--format=csv,noheader,nounits'], { timeout: 10_000 });
    const gpus = parseNvidiaSmi(stdout);
    if (gpus.length > 0) return { executionProvider: 'cuda', gpus, reason: `nvidia-smi lists ${gpus.length} GPU(s)` };
    return { executionProvider: 'cpu', gpus: [], reason: 'nvidia-smi lists no GPU' };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { executionProvider: 'cpu', gpus: [], reason: code === 'ENOENT' ? 'no nvidia-smi on this machine' : `nvidia-smi failed: ${String(err)}` };
  }
}
