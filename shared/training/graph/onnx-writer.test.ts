import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { Graph, tensor } from './ir';
import * as op from './ops';
import { toOnnx, toOnnxWithExternalData } from './onnx-writer';

describe('ONNX writer', () => {
  const g = new Graph('external');
  const x = g.input('x', 'float32', [2, 64]);
  const w = g.initializer(
    'w',
    tensor(
      'float32',
      [64, 64],
      Float32Array.from({ length: 64 * 64 }, (_, i) => Math.sin(i)),
    ),
  );
  const b = g.initializer(
    'b',
    tensor(
      'float32',
      [64],
      Float32Array.from({ length: 64 }, (_, i) => i / 64),
    ),
  );
  g.output(op.add(g, op.matmul(g, x, w), b), 'y');
  const feeds = {
    x: new ort.Tensor(
      'float32',
      Float32Array.from({ length: 128 }, (_, i) => Math.cos(i)),
      [2, 64],
    ),
  };

  it('moves large initializers to a data file that onnxruntime reads by path or from memory, with the same results', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pixel-onnx-'));
    try {
      const inline = toOnnx(g);
      const { model, data } = await toOnnxWithExternalData(g, { location: 'model.onnx.data', minBytes: 1024 });
      expect(model.byteLength).toBeLessThan(inline.byteLength - 16_000);
      expect(data.byteLength).toBe(64 * 64 * 4); // only w (16 KiB); b stays inline
      writeFileSync(path.join(dir, 'model.onnx'), model);
      writeFileSync(path.join(dir, 'model.onnx.data'), data);
      const expected = Array.from(((await (await ort.InferenceSession.create(inline)).run(feeds)).y as ort.Tensor).data as Float32Array);
      const byPath = await ort.InferenceSession.create(path.join(dir, 'model.onnx'));
      expect(Array.from(((await byPath.run(feeds)).y as ort.Tensor).data as Float32Array)).toEqual(expected);
      const fromMemory = await ort.InferenceSession.create(readFileSync(path.join(dir, 'model.onnx')), {
        externalData: [{ path: 'model.onnx.data', data: new Uint8Array(readFileSync(path.join(dir, 'model.onnx.data'))) }],
      });
      expect(Array.from(((await fromMemory.run(feeds)).y as ort.Tensor).data as Float32Array)).toEqual(expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
