import { readFile } from 'node:fs/promises';
import { ConversationRecordSchema, type ConversationRecord } from '../../contracts';
import { Rng } from '../../util/rng';
import { tokenizeConversation, toRow, withSystemPrompt, type ChatTokenizer } from './chat-tokens';

/** Where the data stream is: the epoch, the file (in that epoch's order) and the next line. */
export interface DataCursor {
  epoch: number;
  file: number;
  line: number;
}

export interface Batch {
  input: number[];
  target: number[];
  mask: number[];
  exampleWeight: number[];
  /** 1 for conversations labelled `negative` (replies the model must not learn), else 0. */
  negative: number[];
  /** Ids of the conversations in the batch, in row order. */
  ids: string[];
}

export interface BatchOptions {
  batch: number;
  seq: number;
  padId: number;
  seed: number;
  /** Weight of conversations labelled `crisis` (the crisis protocol is what the model must get right). */
  crisisWeight: number;
  /** Given to conversations without a system turn (see `defaultSystemPrompt`). */
  defaultSystem?: string;
}

/**
 * Training batches streamed from JSONL shards of conversation records, one shard in memory at
 * a time. Each epoch visits the shards in an order drawn from the seed and the epoch; rows are
 * one conversation each (see `toRow`), and conversations whose first `seq + 1` tokens hold no
 * assistant token are skipped. The cursor after a batch says exactly where the next one starts,
 * so a stream rebuilt from a saved cursor continues with the same batches.
 */
export class BatchStream {
  private position: DataCursor;
  private loaded: { file: number; epoch: number; records: string[] } | undefined;

  constructor(
    private readonly files: readonly string[],
    private readonly tokenizer: ChatTokenizer,
    private readonly options: BatchOptions,
    cursor: DataCursor = { epoch: 0, file: 0, line: 0 },
  ) {
    if (files.length === 0) throw new Error('BatchStream: no data files');
    this.position = { ...cursor };
  }

  cursor(): DataCursor {
    return { ...this.position };
  }

  private order(epoch: number): number[] {
    const rng = Rng.for(this.options.seed, 'epoch', String(epoch));
    const order = this.files.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j] as number, order[i] as number];
    }
    return order;
  }

  private async lines(): Promise<string[]> {
    const { epoch, file } = this.position;
    if (this.loaded?.epoch !== epoch || this.loaded.file !== file) {
      const path = this.files[this.order(epoch)[file] as number] as string;
      this.loaded = { epoch, file, records: (await readFile(path, 'utf8')).split('\n').filter((l) => l.trim().length > 0) };
    }
    return this.loaded.records;
  }

  /** The next batch; the stream never ends (epochs follow each other). */
  async next(): Promise<Batch> {
    const out: Batch = { input: [], target: [], mask: [], exampleWeight: [], negative: [], ids: [] };
    let emptyPasses = 0;
    while (out.ids.length < this.options.batch) {
      const lines = await this.lines();
      if (this.position.line >= lines.length) {
        this.position =
          this.position.file + 1 < this.files.length
            ? { ...this.position, file: this.position.file + 1, line: 0 }
            : { epoch: this.position.epoch + 1, file: 0, line: 0 };
        if (this.position.file === 0 && ++emptyPasses > 1 && out.ids.length === 0)
          throw new Error('BatchStream: no conversation in the data has an assistant token within the sequence length');
        continue;
      }
      const raw = lines[this.position.line] as string;
      this.position = { ...this.position, line: this.position.line + 1 };
      const record: ConversationRecord = ConversationRecordSchema.parse(JSON.parse(raw));
      const row = toRow(
        tokenizeConversation(this.tokenizer, withSystemPrompt(record.messages, this.options.defaultSystem)),
        this.options.seq,
        this.options.padId,
      );
      if (!row.mask.some((m) => m === 1)) continue;
      out.input.push(...row.input);
      out.target.push(...row.target);
      out.mask.push(...row.mask);
      out.exampleWeight.push((record.labels ?? []).includes('crisis') ? this.options.crisisWeight : 1);
      out.negative.push((record.labels ?? []).includes('negative') ? 1 : 0);
      out.ids.push(record.id);
    }
    return out;
  }
}
