/**
 * Error type names carried by non-retryable `ApplicationFailure`s. Activities throw them for
 * permanent problems; workflows and activity options list them so Temporal does not retry.
 */
export const ErrorTypes = {
  /** Input (workflow, activity, update) that fails validation. */
  InvalidInput: 'InvalidInput',
  /** A source file or artifact that does not exist. */
  SourceNotFound: 'SourceNotFound',
  /** A source that exists but cannot be read (permissions, a directory, ...). */
  SourceUnreadable: 'SourceUnreadable',
  /** A source whose every record was rejected, so there is nothing to train on. */
  NoUsableRecords: 'NoUsableRecords',
  /** A stored artifact whose content no longer matches its recorded hash. */
  ArtifactCorrupt: 'ArtifactCorrupt',
} as const;

export type ErrorTypeName = (typeof ErrorTypes)[keyof typeof ErrorTypes];

export const NON_RETRYABLE_ERROR_TYPES: string[] = Object.values(ErrorTypes);
