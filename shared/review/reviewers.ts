import type { ArtifactStore } from '../artifacts';
import { ArtifactNotFoundError } from '../artifacts';
import { ReviewerRegistrySchema, describeZodError, type RegistryEntry, type Reviewer, type ReviewerInput } from '../contracts';
import { jsonErrorPosition } from '../util/jsonl';

/** Where the reviewer registry lives in the artifact store. */
export const REVIEWERS_KEY = 'review/reviewers.json';

/** Reviewers of a fresh local stack, so a first run has someone to review it (edit the file to change them). */
export const DEFAULT_REVIEWERS: ReviewerInput[] = [
  { id: 'dr-amara', name: 'Dr. Amara Okafor', specialties: ['crisis', 'trauma', 'depression'], capacity: 200, lead: true },
  { id: 'dr-jonas', name: 'Dr. Jonas Lindqvist', specialties: ['anxiety', 'work_stress', 'relationships'], capacity: 200 },
  { id: 'dr-mei', name: 'Dr. Mei Tanaka', specialties: ['crisis', 'grief', 'general'], capacity: 200 },
];

/** The registry is missing: no reviewer can sign in until it exists. */
export class NoReviewerRegistryError extends Error {
  constructor(readonly uri: string) {
    super(`no reviewer registry at ${uri}: create it (\`pixel review reviewers --init\`) or list reviewers in the run input (review.reviewers)`);
    this.name = 'NoReviewerRegistryError';
  }
}

/** The registry's entries, token versions included; throws with a clear message when it is missing or invalid. */
export async function loadRegistry(store: ArtifactStore): Promise<RegistryEntry[]> {
  const uri = store.uriFor(REVIEWERS_KEY);
  let text: string;
  try {
    text = await store.readText(uri);
  } catch (err) {
    if (err instanceof ArtifactNotFoundError) throw new NoReviewerRegistryError(uri);
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    // JSON.parse's message may quote the file; the position is enough to find the fault.
    const at = jsonErrorPosition(err);
    throw new Error(`${uri} is not JSON${at === undefined ? '' : ` (at character ${at})`}`);
  }
  const parsed = ReviewerRegistrySchema.safeParse(json);
  if (!parsed.success) throw new Error(`${uri}: ${describeZodError('not a reviewer registry', parsed.error)}`);
  return parsed.data.reviewers;
}

/** The registry's reviewers, as a review's input takes them (without token versions). */
export async function loadReviewers(store: ArtifactStore): Promise<Reviewer[]> {
  return (await loadRegistry(store)).map(({ tokenVersion: _version, ...reviewer }) => reviewer);
}

/** Writes the default registry unless one exists; returns the reviewers in force. */
export async function ensureReviewers(store: ArtifactStore): Promise<Reviewer[]> {
  if (!(await store.exists(store.uriFor(REVIEWERS_KEY)))) {
    const registry = ReviewerRegistrySchema.parse({ reviewers: DEFAULT_REVIEWERS });
    await store.writeText(REVIEWERS_KEY, `${JSON.stringify(registry, null, 2)}\n`);
  }
  return loadReviewers(store);
}

/**
 * Revokes every sign-in link of a reviewer by bumping their token version in the registry
 * (written to a temporary file, then renamed). Returns the new version; a link signed with it
 * (`pixel review link`) works again.
 */
export async function bumpTokenVersion(store: ArtifactStore, reviewerId: string): Promise<number> {
  const entries = await loadRegistry(store);
  const entry = entries.find((r) => r.id === reviewerId);
  if (!entry) throw new Error(`${reviewerId} is not in the reviewer registry (${store.uriFor(REVIEWERS_KEY)})`);
  entry.tokenVersion += 1;
  const registry = ReviewerRegistrySchema.parse({ reviewers: entries });
  await store.writeText(REVIEWERS_KEY, `${JSON.stringify(registry, null, 2)}\n`);
  return entry.tokenVersion;
}
