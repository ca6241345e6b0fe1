import { z } from 'zod';
import type { ArtifactStore } from '../artifacts';
import { ArtifactNotFoundError } from '../artifacts';
import { describeZodError } from '../contracts';

/** One registered model version. */
export const RegistryEntrySchema = z
  .object({
    version: z.string().regex(/^[\w.:@-]{1,128}$/, 'version may hold only letters, digits and . _ : @ -'),
    modelUri: z.string().min(1),
    modelSha: z.string().optional(),
    runId: z.string().optional(),
    createdAt: z.string(),
    /** What the model was trained from (data, config, base model; see `trainingKeyOf`), when known. */
    trainingKey: z.string().optional(),
    /** What evaluation said (report and headline figures). */
    evaluation: z.record(z.string(), z.unknown()).optional(),
    /** What expert review said. */
    review: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type RegistryEntry = z.infer<typeof RegistryEntrySchema>;

/** Versions a rollback can go back to, most recent first (kept in the pointer so it changes in the same write). */
const HISTORY = 20;
const CurrentSchema = z
  .object({ version: z.string(), modelUri: z.string(), promotedAt: z.string(), previous: z.array(z.string()).max(HISTORY).optional() })
  .strict();
type Current = z.infer<typeof CurrentSchema>;

/**
 * The model registry in the artifact store: one JSON file per version under
 * `models/registry/versions/`, and `models/registry/current.json` naming the promoted one.
 * The store writes each file atomically, so `current` changes in one step: a reader sees the
 * old pointer or the new one, never half of either.
 */
export class ModelRegistry {
  constructor(private readonly store: ArtifactStore) {}

  private uri(key: string): string {
    return this.store.uriFor(`models/registry/${key}`);
  }

  /** A registered version, or null. */
  async get(version: string): Promise<RegistryEntry | null> {
    const uri = this.uri(`versions/${version}.json`);
    if (!(await this.store.exists(uri))) return null;
    const parsed = RegistryEntrySchema.safeParse(JSON.parse(await this.store.readText(uri)));
    if (!parsed.success) throw new Error(`${uri}: ${describeZodError('not a registry entry', parsed.error)}`);
    return parsed.data;
  }

  /** The pointer to the promoted version, or null when none has been promoted. */
  private async pointer(): Promise<Current | null> {
    const uri = this.uri('current.json');
    let text: string;
    try {
      text = await this.store.readText(uri);
    } catch (err) {
      if (err instanceof ArtifactNotFoundError) return null;
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`${uri} is not JSON`);
    }
    const pointer = CurrentSchema.safeParse(json);
    if (!pointer.success) throw new Error(`${uri}: ${describeZodError('not a registry pointer', pointer.error)}`);
    return pointer.data;
  }

  /** The promoted version, or null when none has been promoted. */
  async current(): Promise<RegistryEntry | null> {
    const pointer = await this.pointer();
    if (!pointer) return null;
    const entry = await this.get(pointer.version);
    if (!entry) throw new Error(`${this.uri('current.json')} names version ${pointer.version}, which is not registered`);
    return entry;
  }

  /** Versions promoted before the current one, most recent first (what `rollback` goes back to). */
  async history(): Promise<string[]> {
    return (await this.pointer())?.previous ?? [];
  }

  /** Records a version (refusing to overwrite a different one under the same name). */
  async register(entry: RegistryEntry): Promise<void> {
    const parsed = RegistryEntrySchema.parse(entry);
    const existing = await this.get(parsed.version);
    if (existing && existing.modelUri !== parsed.modelUri)
      throw new Error(`version ${parsed.version} is already registered for ${existing.modelUri}`);
    await this.store.writeText(`models/registry/versions/${parsed.version}.json`, `${JSON.stringify(parsed, null, 2)}\n`);
  }

  /** Makes a registered version the current one (one atomic write of the pointer). */
  async promote(version: string, at = new Date()): Promise<void> {
    const entry = await this.get(version);
    if (!entry) throw new Error(`cannot promote ${version}: it is not registered`);
    const old = await this.pointer();
    const previous = old && old.version !== version ? [old.version, ...(old.previous ?? [])].filter((v) => v !== version) : (old?.previous ?? []);
    await this.writePointer({ version, modelUri: entry.modelUri, promotedAt: at.toISOString(), previous: previous.slice(0, HISTORY) });
  }

  /**
   * Points `current` back to the version promoted before it (one atomic write); the version
   * rolled back from is dropped from the history. Returns the version now current.
   */
  async rollback(at = new Date()): Promise<{ from: string; to: string }> {
    const old = await this.pointer();
    if (!old) throw new Error('cannot roll back: no model has been promoted');
    const [to, ...rest] = old.previous ?? [];
    if (!to) throw new Error(`cannot roll back: ${old.version} is the only version ever promoted`);
    const entry = await this.get(to);
    if (!entry) throw new Error(`cannot roll back to ${to}: it is no longer registered`);
    await this.writePointer({ version: to, modelUri: entry.modelUri, promotedAt: at.toISOString(), previous: rest });
    return { from: old.version, to };
  }

  private async writePointer(p: Current): Promise<void> {
    await this.store.writeText('models/registry/current.json', `${JSON.stringify(p)}\n`);
  }
}
