import { detectAccelerator, parseNvidiaSmi } from './accelerator';

describe('parseNvidiaSmi', () => {
  it.each([
    ['NVIDIA H100 80GB HBM3, 81559\n', [{ name: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559 }]],
    [
      'A, B, 1024\nNVIDIA L4, 23034\n',
      [
        { name: 'A, B', memoryMiB: 1024 },
        { name: 'NVIDIA L4', memoryMiB: 23034 },
      ],
    ],
    ['', []],
    ['No devices were found\n', []],
    ['GPU, [N/A]\n', []],
  ])('parses %j', (output, expected) => {
    expect(parseNvidiaSmi(output)).toEqual(expected);
  });
});

describe('detectAccelerator', () => {
  it('honours PIXEL_EXECUTION_PROVIDER=cpu', async () => {
    const before = process.env.PIXEL_EXECUTION_PROVIDER;
    process.env.PIXEL_EXECUTION_PROVIDER = 'cpu';
    try {
      expect(await detectAccelerator()).toEqual({ executionProvider: 'cpu', gpus: [], reason: 'PIXEL_EXECUTION_PROVIDER=cpu' });
    } finally {
      if (before === undefined) delete process.env.PIXEL_EXECUTION_PROVIDER;
      else process.env.PIXEL_EXECUTION_PROVIDER = before;
    }
  });

  it('says why it chose the CPU on a machine without nvidia-smi', async () => {
    const info = await detectAccelerator();
    if (info.executionProvider === 'cpu') expect(info.reason).toMatch(/nvidia-smi/);
    else expect(info.gpus.length).toBeGreaterThan(0);
  });
});
