import { TrainConfigSchema, type SearchParam, type SearchSpace, type SweepParams, type TrainConfig, type TrainConfigInput } from '../contracts';
import type { Rng } from '../util/rng';

/**
 * A parameter's value as a position in [0, 1] (the sampler's working space: log-scaled where the
 * parameter is), and back. Categorical parameters are handled by index, not here.
 */
export function toUnit(p: Exclude<SearchParam, { type: 'categorical' }>, value: number): number {
  const log = p.type === 'log-float' || (p.type === 'int' && p.log);
  const [lo, hi, v] = log ? [Math.log(p.low), Math.log(p.high), Math.log(value)] : [p.low, p.high, value];
  return Math.min(1, Math.max(0, (v - lo) / (hi - lo)));
}

export function fromUnit(p: Exclude<SearchParam, { type: 'categorical' }>, u: number): number {
  const x = Math.min(1, Math.max(0, u));
  const log = p.type === 'log-float' || (p.type === 'int' && p.log);
  const value = log ? Math.exp(Math.log(p.low) + x * (Math.log(p.high) - Math.log(p.low))) : p.low + x * (p.high - p.low);
  if (p.type !== 'int') return Math.min(p.high, Math.max(p.low, value));
  return Math.min(p.high, Math.max(p.low, Math.round(value)));
}

/** A uniform draw of one parameter (log-uniform for log-scaled ones). */
export function drawParam(p: SearchParam, rng: Rng): string | number | boolean {
  if (p.type === 'categorical') return p.choices[rng.int(p.choices.length)] as string | number | boolean;
  if (p.type === 'int') {
    if (!p.log) return rng.between(p.low, p.high);
    // Log-uniform over [low - 0.5, high + 0.5), rounded: each integer its share of the log scale.
    const [lo, hi] = [Math.log(p.low - 0.5), Math.log(p.high + 0.5)];
    return Math.min(p.high, Math.max(p.low, Math.round(Math.exp(lo + rng.next() * (hi - lo)))));
  }
  return fromUnit(p, rng.next());
}

/** A uniform draw of a whole space, parameters in name order (so the draw does not depend on key order). */
export function drawParams(space: SearchSpace, rng: Rng): SweepParams {
  const out: SweepParams = {};
  for (const name of Object.keys(space).sort()) out[name] = drawParam(space[name] as SearchParam, rng);
  return out;
}

/**
 * A training config with a trial's parameters set (dotted paths such as `lora.rank`), validated:
 * a combination the config refuses (warmup not below steps, say) is an error naming it.
 */
export function applyParams(base: TrainConfigInput, params: SweepParams): TrainConfig {
  // JSON, not structuredClone: this runs inside workflows too, whose sandbox has no structuredClone.
  const config = JSON.parse(JSON.stringify(base)) as Record<string, unknown>;
  for (const [path, value] of Object.entries(params)) {
    const keys = path.split('.');
    let at = config;
    for (const key of keys.slice(0, -1)) {
      const next = at[key];
      at[key] = next && typeof next === 'object' ? { ...next } : {};
      at = at[key] as Record<string, unknown>;
    }
    at[keys[keys.length - 1] as string] = value;
  }
  return TrainConfigSchema.parse(config);
}
