import { FingerprintMap } from './fingerprint-map';

describe('FingerprintMap', () => {
  it('stores and finds values through growth', () => {
    const map = new FingerprintMap(4);
    for (let i = 1; i <= 50_000; i++) map.set(i * 2654435761, i, i ^ 0x5555, i);
    expect(map.size).toBe(50_000);
    for (let i = 1; i <= 50_000; i++) expect(map.get(i * 2654435761, i, i ^ 0x5555)).toBe(i);
  });

  it('tells apart keys that differ in one word only (near misses)', () => {
    const map = new FingerprintMap();
    map.set(1, 2, 3, 10);
    expect(map.get(1, 2, 3)).toBe(10);
    expect(map.get(1, 2, 4)).toBeUndefined();
    expect(map.get(1, 3, 3)).toBeUndefined();
    expect(map.get(0, 2, 3)).toBeUndefined();
  });

  it('treats negative and unsigned forms of a word as the same key', () => {
    const map = new FingerprintMap();
    map.set(-1, -2, -3, 7);
    expect(map.get(0xffffffff, 0xfffffffe, 0xfffffffd)).toBe(7);
  });

  it('replaces a value without growing', () => {
    const map = new FingerprintMap();
    map.set(5, 5, 5, 1);
    map.set(5, 5, 5, 2);
    expect(map.size).toBe(1);
    expect(map.get(5, 5, 5)).toBe(2);
  });

  it.each([0, -1, 2 ** 32, 1.5])('refuses the value %p', (value) => {
    expect(() => new FingerprintMap().set(1, 1, 1, value)).toThrow(RangeError);
  });
});
