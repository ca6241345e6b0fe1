import { NON_RETRYABLE_ERROR_TYPES } from '../shared/contracts';

/**
 * How every activity of Pixel's workflows is retried: exponential backoff from 2 s to a minute,
 * five attempts, never for a failure whose type says retrying cannot help. Training overrides
 * the number of attempts only (each retry resumes from its last checkpoint).
 */
export const RETRY_POLICY = {
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  maximumAttempts: 5,
  nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
} as const;
