import * as path from 'node:path';
import { readInputFile } from '../../util/files';
import { DetectionEngine, DetectorRegistry, type EngineOptions } from '../engine';
import { parsePatternDetectors } from '../pattern-detector';
import { PII_CATEGORIES } from '../types';
import { AddressDetector } from './address';
import { sharedPersonDetector } from './person';
import { PhoneDetector } from './phone';

/** The default data-defined PII detectors (pattern-detectors.yaml beside this file). */
export const DEFAULT_PATTERN_FILE = path.join(__dirname, 'pattern-detectors.yaml');

/**
 * Every PII detector: the data-defined ones (defaults plus `extraFiles`, e.g. from
 * `PIXEL_PII_DETECTORS`) and the code ones that need a library or a lexicon (phone numbers, person names, street addresses).
 */
export function createPiiRegistry(extraFiles: readonly string[] = []): DetectorRegistry {
  const registry = new DetectorRegistry();
  for (const file of [DEFAULT_PATTERN_FILE, ...extraFiles]) {
    for (const detector of parsePatternDetectors(readInputFile(file, 'PII detectors'), file)) registry.register(detector);
  }
  registry.register(new PhoneDetector());
  registry.register(sharedPersonDetector());
  registry.register(new AddressDetector());
  return registry;
}

/** An engine over every PII category with the default threshold. */
export function createPiiEngine(options: EngineOptions & { extraFiles?: readonly string[] } = {}): DetectionEngine {
  const extra = options.extraFiles ?? (process.env.PIXEL_PII_DETECTORS ? process.env.PIXEL_PII_DETECTORS.split(path.delimiter) : []);
  return new DetectionEngine(createPiiRegistry(extra), { categories: PII_CATEGORIES, ...options });
}
