import type { ArtifactStore } from '../artifacts';
import { ArtifactNotFoundError } from '../artifacts';
import { ReviewerRegistrySchema, describeZodError, type Reviewer, type ReviewerInput } from '../contracts';

/** Where the reviewer registry lives in the artifact store. */
export const REVIEWERS_KEY = 'review/reviewers.json';

/** Reviewers of a fresh local stack, so a first run has someone to review it (edit the file to change them). */
export const DEFAULT_REVIEWERS: ReviewerInput[] = [
  { id: 'dr-amara', name: 'Dr. Amara Okafor', specialties: ['crisis', 'trauma', 'depression'], capacity: 200, lead: true },
  { id: 'dr-jonas', name: 'Dr. Jonas Lindqvist', specialties: ['anxiety', 'work_stress', 'relationships'], capacity: 200 },
  { id: 'dr-mei', name: 'Dr. Mei Tanaka', specialties: ['crisis', 'grief', 'general'], capacity: 200 },
];

/** The registry's reviewers; throws with a clear message when it is missing or invalid. */
export async function loadReviewers(store: ArtifactStore): Promise<Reviewer[]> {
  const uri = store.uriFor(REVIEWERS_KEY);
  let text: string;
  try {
    text = await store.readText(uri);
  } catch (err) {
    if (err instanceof ArtifactNotFoundError)
      throw new Error(
        `no reviewer registry at ${uri}: create it (\`pixel review reviewers --init\`) or list reviewers in the run input (review.reviewers)`,
      );
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${uri} is not JSON: ${(err as Error).message}`);
  }
  const parsed = ReviewerRegistrySchema.safeParse(json);
  if (!parsed.success) throw new Error(`${uri}: ${describeZodError('not a reviewer registry', parsed.error)}`);
  return parsed.data.reviewers;
}

/** Writes the default registry unless one exists; returns the reviewers in force. */
export async function ensureReviewers(store: ArtifactStore): Promise<Reviewer[]> {
  if (!(await store.exists(store.uriFor(REVIEWERS_KEY)))) {
    const registry = ReviewerRegistrySchema.parse({ reviewers: DEFAULT_REVIEWERS });
    await store.writeText(REVIEWERS_KEY, `${JSON.stringify(registry, null, 2)}\n`);
  }
  return loadReviewers(store);
}
