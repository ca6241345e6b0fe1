import { createHash } from 'node:crypto';

/**
 * Every public dev set is split once, by a fixed seed and by group (a C-SSRS user, a counsel-chat
 * question, a presidio sentence, a CrowS-Pairs pair), into a tuning part and a report part.
 * Rules, lexicons, thresholds and learned models may look only at the tuning part; figures
 * quoted as accuracy come from the report part (or from out-of-fold predictions where a model
 * is cross-validated on the tuning part), and say which.
 *
 * The split is a hash of the seed, the data set's name and the group key, so it is the same on
 * every machine, needs no stored list, and a group never straddles the two parts.
 */
export const DEV_SPLIT_SEED = 'pixel-dev-split-v1';

export type DevSplit = 'tuning' | 'report';
export const DEV_SPLITS: readonly DevSplit[] = ['tuning', 'report'];

/** The public dev sets Pixel measures on (files under `../shared/data`). */
export type DevSet = 'cssrs' | 'presidio' | 'counsel-chat' | 'crows-pairs';

/** Share of groups in the tuning part. */
const TUNING_SHARE = 0.5;

/** Which part a group belongs to. */
export function devSplitOf(set: DevSet, group: string): DevSplit {
  const digest = createHash('sha256').update(`${DEV_SPLIT_SEED}\0${set}\0${group}`).digest();
  return digest.readUInt32BE(0) / 2 ** 32 < TUNING_SHARE ? 'tuning' : 'report';
}

/** `split` undefined keeps everything (the whole file); otherwise only the named part. */
export function inSplit(set: DevSet, group: string, split: DevSplit | undefined): boolean {
  return split === undefined || devSplitOf(set, group) === split;
}
