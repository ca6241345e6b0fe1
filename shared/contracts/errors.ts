import { ApplicationFailure } from '@temporalio/common';
import type { z } from 'zod';
import { parseWith } from './validation';

/**
 * Error type names carried by non-retryable `ApplicationFailure`s. Activities throw them for
 * permanent problems; workflows and activity options list them so Temporal does not retry.
 * Every type Pixel throws is here.
 */
export const ErrorTypes = {
  /** Input (workflow, activity, update) that fails validation. */
  InvalidInput: 'InvalidInput',
  /** A source file or artifact that does not exist. */
  SourceNotFound: 'SourceNotFound',
  /** A source that exists but cannot be read (permissions, a directory, ...). */
  SourceUnreadable: 'SourceUnreadable',
  /** A source file outside the folders the worker reads sources from (PIXEL_SOURCE_ROOTS). */
  SourceNotAllowed: 'SourceNotAllowed',
  /** A source whose every record was rejected, so there is nothing to train on. */
  NoUsableRecords: 'NoUsableRecords',
  /** A stored artifact whose content no longer matches its recorded hash. */
  ArtifactCorrupt: 'ArtifactCorrupt',
  /** Training produced a NaN or infinite loss: retrying the same step gives the same result. */
  NonFiniteLoss: 'NonFiniteLoss',
  /** A review submission or reassignment the review workflow refused (its validator's answer). */
  ReviewRejected: 'ReviewRejected',
  /** A pipeline stage failed for a reason that carries no type of its own. */
  StageFailed: 'StageFailed',
} as const;

export type ErrorTypeName = (typeof ErrorTypes)[keyof typeof ErrorTypes];

export const NON_RETRYABLE_ERROR_TYPES: string[] = Object.values(ErrorTypes);

/** The non-retryable failure for input that cannot be used: retrying cannot fix it. */
export function invalidInput(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, ErrorTypes.InvalidInput);
}

/**
 * Parses the input of a workflow, activity or update with its schema; a failed parse becomes
 * the non-retryable `InvalidInput` failure whose message names every bad field.
 */
export function parseInput<S extends z.ZodType>(schema: S, what: string, input: unknown): z.output<S> {
  const parsed = parseWith(schema, what, input ?? {});
  if (!parsed.ok) throw invalidInput(parsed.message);
  return parsed.value;
}
