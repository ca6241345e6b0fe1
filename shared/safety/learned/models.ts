import * as path from 'node:path';
import { loadCrisisHead, predict, crisisFeatures, type CrisisHeadFile } from './crisis-head';

/**
 * The trained crisis head kept in the repository, written by `pixel safety train-crisis`. Its
 * sha256 is pinned here: a head changed by anything but a new training run (and a new pin) is
 * refused at load time.
 */
export const CRISIS_HEAD_FILE = path.join(__dirname, 'models', 'crisis-head-minilm.json');
export const CRISIS_HEAD_SHA256 = '37cbe06796f351f6b528d499887b3525a58ef94f7c608ad18962cf04afacef10';

export function loadDefaultCrisisHead(): CrisisHeadFile {
  return loadCrisisHead(CRISIS_HEAD_FILE, CRISIS_HEAD_SHA256);
}

export interface LearnedCrisisRisk {
  /** Probability of any risk (ideation and above). */
  anyRisk: number;
  /** Probability of urgent risk (intent, plan, behaviour). */
  urgent: number;
  flagged: boolean;
  urgentFlagged: boolean;
}

/** Scores one person's messages (their embeddings) with the head, given the worst C-SSRS level the rules found. */
export function scoreCrisisRisk(head: CrisisHeadFile, embeddings: readonly Float32Array[], ruleLevel: number): LearnedCrisisRisk {
  const x = crisisFeatures(embeddings, ruleLevel, head.encoder.dim);
  const anyRisk = predict(head.heads.anyRisk, x);
  const urgent = predict(head.heads.urgent, x);
  return { anyRisk, urgent, flagged: anyRisk >= head.heads.anyRisk.threshold, urgentFlagged: urgent >= head.heads.urgent.threshold };
}
