import { encoderSessionOptions } from './transformers';

describe('encoderSessionOptions', () => {
  it('runs one thread unless PIXEL_ENCODER_THREADS asks for more', () => {
    expect(encoderSessionOptions({})).toEqual({ intraOpNumThreads: 1, interOpNumThreads: 1 });
    expect(encoderSessionOptions({ PIXEL_ENCODER_THREADS: '' }).intraOpNumThreads).toBe(1);
    expect(encoderSessionOptions({ PIXEL_ENCODER_THREADS: '1' }).intraOpNumThreads).toBe(1);
    // Never more threads than the machine has cores.
    expect(encoderSessionOptions({ PIXEL_ENCODER_THREADS: '16' }).intraOpNumThreads).toBeLessThanOrEqual(16);
    expect(encoderSessionOptions({ PIXEL_ENCODER_THREADS: '16' }).intraOpNumThreads).toBeGreaterThanOrEqual(1);
  });

  it.each(['0', '17', '2.5', 'two', '-1'])('refuses PIXEL_ENCODER_THREADS=%s with a message naming it', (value) => {
    expect(() => encoderSessionOptions({ PIXEL_ENCODER_THREADS: value })).toThrow(/PIXEL_ENCODER_THREADS must be a whole number from 1 to 16/);
  });
});
