import type { Message } from '../../contracts';

/** What tokenising needs from a tokenizer (transformers.js's PreTrainedTokenizer fits). */
export interface ChatTokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): number[];
}

/**
 * What Pixel tells the model it is, when a conversation brings no system turn of its own and
 * the model's chat template would otherwise put its own default there (SmolLM2's says it is
 * "a helpful AI assistant named SmolLM"). The same text in training and generation.
 */
export const PIXEL_SYSTEM_PROMPT =
  'You are a supportive mental-health assistant. Listen with empathy and ask gentle questions. If someone may be at risk, ask about their safety and urge them to call a crisis line.';

/**
 * The system prompt to add to conversations without one: Pixel's, for models whose chat
 * template adds a default system turn of its own (so the model always sees one), else none.
 */
export function defaultSystemPrompt(tokenizer: {
  apply_chat_template(messages: Message[], options: { tokenize: false; add_generation_prompt: boolean }): unknown;
}): string | undefined {
  try {
    const text = tokenizer.apply_chat_template([{ role: 'user', content: 'x' }], { tokenize: false, add_generation_prompt: false });
    return typeof text === 'string' && /^<\|im_start\|>system\n/.test(text) ? PIXEL_SYSTEM_PROMPT : undefined;
  } catch {
    return undefined; // no chat template
  }
}

/** The conversation with `system` as its first turn when it has no system turn of its own. */
export function withSystemPrompt(messages: readonly Message[], system: string | undefined): readonly Message[] {
  return system === undefined || messages.some((m) => m.role === 'system') ? messages : [{ role: 'system', content: system }, ...messages];
}

export interface TokenizedConversation {
  ids: number[];
  /** 1 where the token is part of an assistant reply (content and its end marker): the tokens to learn. */
  assistant: number[];
}

/**
 * Tokenises a conversation in the ChatML layout of Pixel's tokenizers
 * (`<|im_start|>role\ncontent<|im_end|>\n` per message) and marks the assistant tokens. Each
 * piece is encoded on its own; the pieces meet at special tokens or at the line break after
 * the role, where the tokenizer splits anyway (message contents are trimmed), so the result is
 * the tokenisation of the whole text.
 */
export function tokenizeConversation(tokenizer: ChatTokenizer, messages: readonly Message[]): TokenizedConversation {
  const ids: number[] = [];
  const assistant: number[] = [];
  const push = (text: string, learn: boolean) => {
    for (const id of tokenizer.encode(text, { add_special_tokens: false })) {
      ids.push(id);
      assistant.push(learn ? 1 : 0);
    }
  };
  for (const m of messages) {
    push(`<|im_start|>${m.role}\n`, false);
    push(`${m.content}<|im_end|>`, m.role === 'assistant');
    push('\n', false);
  }
  return { ids, assistant };
}

/**
 * One training row of a fixed length from a tokenised conversation: inputs are tokens
 * 0..seq-1, targets tokens 1..seq, and the loss mask selects targets that are assistant tokens.
 * Longer conversations are cut at `seq + 1` tokens; shorter ones are padded (mask 0).
 */
export function toRow(t: TokenizedConversation, seq: number, padId: number): { input: number[]; target: number[]; mask: number[] } {
  const ids = t.ids.slice(0, seq + 1);
  const learn = t.assistant.slice(0, seq + 1);
  const input: number[] = [];
  const target: number[] = [];
  const mask: number[] = [];
  for (let i = 0; i < seq; i++) {
    const next = i + 1 < ids.length;
    input.push(i < ids.length ? (ids[i] as number) : padId);
    target.push(next ? (ids[i + 1] as number) : padId);
    mask.push(next ? (learn[i + 1] as number) : 0);
  }
  return { input, target, mask };
}
