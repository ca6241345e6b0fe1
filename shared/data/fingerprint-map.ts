/**
 * An open-addressing hash map from 96-bit fingerprints to a positive 32-bit value (a line
 * number), kept in typed arrays. Duplicate detection over 600k+ records needs one entry per
 * record; as JS Maps of strings that is ~100 MB of small heap objects the garbage collector must
 * trace on every major collection. Here it is ~12 bytes a slot, outside the traced heap.
 */
export class FingerprintMap {
  private keys: Uint32Array;
  private values: Uint32Array;
  private mask: number;
  private count = 0;

  constructor(initialCapacity = 1 << 16) {
    let capacity = 1;
    while (capacity < initialCapacity) capacity <<= 1;
    this.keys = new Uint32Array(capacity * 3);
    this.values = new Uint32Array(capacity);
    this.mask = capacity - 1;
  }

  get size(): number {
    return this.count;
  }

  private slot(a: number, b: number, c: number): number {
    let i = (a ^ Math.imul(b, 0x9e3779b1)) & this.mask;
    for (;;) {
      if (this.values[i] === 0) return i;
      const k = i * 3;
      if (this.keys[k] === a >>> 0 && this.keys[k + 1] === b >>> 0 && this.keys[k + 2] === c >>> 0) return i;
      i = (i + 1) & this.mask;
    }
  }

  /** The value stored for the fingerprint, or undefined. */
  get(a: number, b: number, c: number): number | undefined {
    const v = this.values[this.slot(a, b, c)] as number;
    return v === 0 ? undefined : v;
  }

  /** Stores `value` (1 .. 2^32-1) for the fingerprint, replacing any earlier value. */
  set(a: number, b: number, c: number, value: number): void {
    if (!Number.isInteger(value) || value < 1 || value > 0xffffffff) throw new RangeError(`FingerprintMap values must be 1..2^32-1, got ${value}`);
    const i = this.slot(a, b, c);
    if (this.values[i] === 0) {
      this.count += 1;
      const k = i * 3;
      this.keys[k] = a;
      this.keys[k + 1] = b;
      this.keys[k + 2] = c;
    }
    this.values[i] = value;
    if (this.count * 2 > this.values.length) this.grow();
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    const capacity = oldValues.length * 2;
    this.keys = new Uint32Array(capacity * 3);
    this.values = new Uint32Array(capacity);
    this.mask = capacity - 1;
    for (let i = 0; i < oldValues.length; i++) {
      const v = oldValues[i] as number;
      if (v === 0) continue;
      const a = oldKeys[i * 3] as number;
      const b = oldKeys[i * 3 + 1] as number;
      const c = oldKeys[i * 3 + 2] as number;
      const j = this.slot(a, b, c);
      this.keys[j * 3] = a;
      this.keys[j * 3 + 1] = b;
      this.keys[j * 3 + 2] = c;
      this.values[j] = v;
    }
  }
}
