import { createReadStream, createWriteStream, statSync } from 'node:fs';
import * as path from 'node:path';
import { finished } from 'node:stream/promises';
import { z } from 'zod';
import { ConversationRecordSchema, describeZodError } from '../contracts';
import { checkRegularFile, replaceFile, type WriteTarget } from '../util/files';
import { jsonErrorPosition } from '../util/jsonl';
import { readLines } from '../util/lines';
import { detectBias } from './bias/bias';
import { assessCrisis, PROTOCOLS, type CrisisAssessment } from './crisis/assess';
import { roundProbability, screenFields, type CrisisScreen, type UnitCrisis } from './learned/screen';
import { checkGates, type Speaker } from './gates';
import { personsCombiner, type PersonTagger, type TaggedPersons } from './pii/rampart';
import type { DetectionEngine } from './engine';
import { Redactor } from './redact';

/** What `pixel safety scan` writes for one text. Offsets are into `text`. */
export interface ScanResult {
  id: string;
  crisis: {
    severity: string;
    types: string[];
    confidence: number;
    timeline: string;
    protocol: string;
    /** With the crisis screen: the C-SSRS rung, the rules' own severity and the learned head's probabilities (when it saw the text). */
    rung?: string;
    ruleSeverity?: string;
    probability?: number;
    urgentProbability?: number;
    screened?: boolean;
  };
  pii: { category: string; start: number; end: number; score: number }[];
  bias: { type: string; level: string; start: number; end: number }[];
  gates: { gate: string; severity: string; start: number; end: number }[];
  redacted: string;
}

/** Who wrote which part of a scanned text (a conversation's messages joined by newlines). */
export interface Segment {
  start: number;
  end: number;
  role: Speaker;
}

/**
 * Scans one text: crisis assessment, PII findings, bias, content gates, and the text with PII
 * replaced. With `segments`, gates apply per speaker (a user may swear; the assistant may not).
 */
export function scanText(
  id: string,
  text: string,
  engine: DetectionEngine,
  segments?: readonly Segment[],
  screened: { unit?: UnitCrisis; assessment?: CrisisAssessment; persons?: TaggedPersons } = {},
): ScanResult {
  const { unit, persons } = screened;
  const crisis = screened.assessment ?? assessCrisis(text);
  const raised = unit?.raisedByModel === true;
  const findings = engine.detect(text, personsCombiner(persons));
  const bias = detectBias(text);
  const { text: redacted } = new Redactor().redact(text, findings, crisis.indicators);
  return {
    id,
    crisis: {
      severity: raised ? unit.severity : crisis.severity,
      types: raised && !crisis.types.includes('suicidal_ideation') ? [...crisis.types, 'suicidal_ideation'] : crisis.types,
      confidence: raised ? roundProbability(unit.probability ?? 0) : crisis.confidence,
      timeline: crisis.timeline,
      protocol: raised ? PROTOCOLS[unit.severity].name : crisis.protocol.name,
      // The rules' severity here is the whole text's, as `severity` is when nothing is raised.
      ...(unit ? screenFields(unit, crisis.severity) : {}),
    },
    pii: findings.map((f) => ({ category: f.category, start: f.start, end: f.end, score: Math.round(f.score * 100) / 100 })),
    bias: bias.map((b) => ({ type: b.type, level: b.level, start: b.start, end: b.end })),
    gates: (segments ?? [{ start: 0, end: text.length, role: 'any' as const }]).flatMap((seg) => {
      // The bias findings inside this segment, in its own offsets: bias detection runs once.
      const inSegment = bias
        .filter((b) => b.start >= seg.start && b.end <= seg.end)
        .map((b) => ({ ...b, start: b.start - seg.start, end: b.end - seg.start }));
      return checkGates(text.slice(seg.start, seg.end), seg.role, inSegment).map((g) => ({
        gate: g.gate,
        severity: g.severity,
        start: seg.start + g.start,
        end: seg.start + g.end,
      }));
    }),
    redacted,
  };
}

const TextLineSchema = z.object({ id: z.union([z.string().min(1), z.number()]).transform(String), text: z.string() }).strict();

/** A scan input line: `{"id", "text"}` or a conversation record (its messages joined by newlines). */
export function textOfLine(value: unknown): { id: string; text: string; segments?: Segment[] } | string {
  const plain = TextLineSchema.safeParse(value);
  if (plain.success) return plain.data;
  const record = ConversationRecordSchema.safeParse(value);
  if (record.success) {
    const segments: Segment[] = [];
    let at = 0;
    for (const m of record.data.messages) {
      segments.push({ start: at, end: at + m.content.length, role: m.role });
      at += m.content.length + 1;
    }
    return { id: record.data.id, text: record.data.messages.map((m) => m.content).join('\n'), segments };
  }
  return describeZodError('expected {"id","text"} or a conversation record', plain.error);
}

/** The unit a crisis screen assesses for a scanned line: its user turns (a record) or the whole text. */
export function crisisUnitOf(parsed: { text: string; segments?: readonly Segment[] }): {
  texts: string[];
  assessments: ReturnType<typeof assessCrisis>[];
} {
  const texts = parsed.segments ? parsed.segments.filter((s) => s.role === 'user').map((s) => parsed.text.slice(s.start, s.end)) : [parsed.text];
  return { texts, assessments: texts.map((t) => assessCrisis(t)) };
}

/** The learned models a scan uses (each optional: without it, the rules alone decide). */
export interface ScanModels {
  crisis?: CrisisScreen;
  persons?: PersonTagger;
}

/** Scans one text with the learned models (the crisis screen's cascade, the name tagger's cascade). */
export async function scanTextScreened(
  id: string,
  text: string,
  engine: DetectionEngine,
  models: ScanModels,
  segments?: readonly Segment[],
): Promise<ScanResult> {
  return (await scanScreened([{ id, text, ...(segments ? { segments: [...segments] } : {}) }], engine, models))[0] as ScanResult;
}

/**
 * Scans texts through the learned models in one batch. A plain text is its own crisis unit, so
 * the rules' assessment the screen needed is the one the scan reports (not computed twice).
 */
async function scanScreened(
  items: readonly { id: string; text: string; segments?: Segment[] }[],
  engine: DetectionEngine,
  models: ScanModels,
): Promise<ScanResult[]> {
  const inputs = items.map(crisisUnitOf);
  const units = models.crisis ? await models.crisis.assess(inputs) : undefined;
  const persons = models.persons ? await tagSegments(items, models.persons) : undefined;
  return items.map((p, i) =>
    scanText(p.id, p.text, engine, p.segments, {
      ...(units ? { unit: units[i] } : {}),
      ...(persons ? { persons: persons[i] } : {}),
      ...(p.segments ? {} : { assessment: inputs[i]?.assessments[0] }),
    }),
  );
}

/**
 * The name tagger's answer for each scanned line: a record's messages are tagged one by one (as
 * the safety stage tags them), so a name never runs across two messages and the per-text cap
 * applies per message; offsets are then moved into the joined text.
 */
async function tagSegments(items: readonly { text: string; segments?: Segment[] }[], tagger: PersonTagger): Promise<TaggedPersons[]> {
  const parts = items.map((p) => p.segments ?? [{ start: 0, end: p.text.length, role: 'any' as const }]);
  const tagged = await tagger.tag(items.flatMap((p, i) => (parts[i] as Segment[]).map((seg) => p.text.slice(seg.start, seg.end))));
  let at = 0;
  return parts.map((segs) => {
    const out: TaggedPersons = { findings: [], covered: [] };
    for (const seg of segs) {
      const t = tagged[at++] as TaggedPersons;
      const shift = <T extends { start: number; end: number }>(x: T): T => ({ ...x, start: x.start + seg.start, end: x.end + seg.start });
      out.findings.push(...t.findings.map(shift));
      out.covered.push(...t.covered.map(shift));
    }
    return out;
  });
}

/** Where a JSON.parse error happened, without the text around it (which may hold personal data). */
export function jsonErrorWithoutText(err: unknown): string {
  const position = jsonErrorPosition(err);
  return position === undefined ? 'malformed JSON' : `malformed JSON at character ${position}`;
}

/**
 * Checks that a scan may read `input` and write `output` before anything is written: the input
 * is a readable file, and the output is not the input (by path or, where it exists, by inode: a
 * link to it). Throws one clear line naming the problem.
 */
export function checkScanPaths(input: string, output: string): void {
  const source = checkRegularFile(input, 'input');
  let target: ReturnType<typeof statSync> | undefined;
  try {
    target = statSync(output);
  } catch {
    target = undefined;
  }
  if (path.resolve(input) === path.resolve(output) || (target && target.ino === source.ino && target.dev === source.dev))
    throw new Error(`output ${output} is the input: give another file (the input is never overwritten)`);
  if (target?.isDirectory()) throw new Error(`output ${output} is a directory`);
}

/**
 * Scans a JSONL file line by line into another, one output line per input line in the same
 * order. A line that cannot be read gets `{"line", "id"?, "error"}`; the scan never stops early.
 * The output is written to a temporary file beside it and renamed into place only when the whole
 * scan succeeded: an existing output is never truncated by a scan that fails.
 */
export async function scanJsonl(
  input: string,
  output: string,
  engine: DetectionEngine,
  onProgress?: (n: number) => void,
  models: ScanModels = {},
): Promise<{ lines: number; errors: number }> {
  checkScanPaths(input, output);
  return replaceFile(output, 'output', (target) => scanJsonlInto(input, target, output, engine, onProgress, models));
}

async function scanJsonlInto(
  input: string,
  target: WriteTarget,
  output: string,
  engine: DetectionEngine,
  onProgress: ((n: number) => void) | undefined,
  models: ScanModels,
): Promise<{ lines: number; errors: number }> {
  const out = createWriteStream(target.path, { flags: target.flags, mode: 0o600 });
  // A write error (disk full, a folder that cannot be written) rejects the scan instead of
  // surfacing as an unhandled 'error' event.
  let failed: Error | undefined;
  out.on('error', (err) => {
    failed = err;
  });
  let lines = 0;
  let errors = 0;
  const write = async (obj: unknown) => {
    if (failed) throw new Error(`cannot write ${output}: ${failed.message}`);
    if (!out.write(`${JSON.stringify(obj)}\n`))
      await new Promise<void>((resolve) => {
        out.once('drain', () => resolve());
        out.once('error', () => resolve());
      });
  };
  // Lines wait in a small batch for the learned models; output order is input order.
  let pending: { id: string; text: string; segments?: Segment[] }[] = [];
  const flush = async () => {
    const results = await scanScreened(pending, engine, models);
    for (const r of results) await write(r);
    pending = [];
  };
  for await (const item of readLines(createReadStream(input), 16 * 1024 * 1024, { blankLines: 0 })) {
    lines += 1;
    if (item.kind !== 'text') {
      errors += 1;
      await flush();
      await write({ line: item.line, error: item.kind === 'rejected' ? item.detail : 'unreadable line' });
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(item.raw);
    } catch (err) {
      errors += 1;
      await flush();
      await write({ line: item.line, error: jsonErrorWithoutText(err) });
      continue;
    }
    const parsed = textOfLine(value);
    if (typeof parsed === 'string') {
      errors += 1;
      await flush();
      const id = value && typeof value === 'object' && 'id' in value ? String(value.id) : undefined;
      await write({ line: item.line, ...(id ? { id } : {}), error: parsed });
      continue;
    }
    pending.push(parsed);
    if (pending.length >= 64) await flush();
    if (lines % 1000 === 0) onProgress?.(lines);
  }
  await flush();
  out.end();
  try {
    await finished(out);
  } catch (err) {
    failed ??= err as Error;
  }
  if (failed) throw new Error(`cannot write ${output}: ${failed.message}`);
  return { lines, errors };
}
