import { z } from 'zod';
import { MAX_MESSAGE_CHARS } from './record';

/**
 * The serving API's boundary: OpenAI's chat-completions request (the fields Pixel implements;
 * any other field is refused by name, as OpenAI refuses unknown arguments) and the messages
 * between the server and its generation thread.
 */
const TextPartSchema = z.object({ type: z.literal('text'), text: z.string() }).strict();

export const ChatMessageSchema = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant']),
    content: z
      .union([z.string(), z.array(TextPartSchema).min(1).max(64)])
      .transform((c) => (typeof c === 'string' ? c : c.map((p) => p.text).join('\n')))
      .pipe(z.string().max(MAX_MESSAGE_CHARS, `message content is longer than ${MAX_MESSAGE_CHARS.toLocaleString('en')} characters`)),
    name: z.string().max(64).optional(),
  })
  .strict();

/** Fields OpenAI defines that change nothing here when absent, null or at their neutral value. */
const neutral = <T extends z.ZodTypeAny>(schema: T) => schema.nullish();

export const ChatCompletionRequestSchema = z
  .object({
    model: z.string().min(1).max(256),
    messages: z.array(ChatMessageSchema).min(1, 'messages is empty').max(512),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z.number().gt(0).max(1).nullish(),
    /** An extension (as vLLM's): sampling keeps the k most likely tokens before top_p; default 50. */
    top_k: z.number().int().min(1).max(1000).nullish(),
    max_tokens: z.number().int().min(1).nullish(),
    max_completion_tokens: z.number().int().min(1).nullish(),
    stop: z.union([z.string().min(1).max(64), z.array(z.string().min(1).max(64)).max(4)]).nullish(),
    seed: z.number().int().nullish(),
    stream: z.boolean().nullish(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).strict().nullish(),
    n: neutral(z.literal(1, { message: 'only n = 1 is supported' })),
    user: z.string().max(256).optional(),
    frequency_penalty: neutral(z.literal(0, { message: 'frequency_penalty is not supported (0 only)' })),
    presence_penalty: neutral(z.literal(0, { message: 'presence_penalty is not supported (0 only)' })),
    logprobs: neutral(z.literal(false, { message: 'logprobs are not supported' })),
  })
  .strict();
export type ChatCompletionRequest = z.output<typeof ChatCompletionRequestSchema>;

/** What the generation thread is started with. */
export const GeneratorThreadDataSchema = z
  .object({
    modelDir: z.string().min(1),
    /** Requests decoded together at most. */
    maxBatch: z.number().int().min(1).max(256),
    /** onnxruntime intra-op threads. */
    threads: z.number().int().min(1).max(64).optional(),
    /** Prompt and reply tokens per request at most (bounds the KV cache: batch x context x layers). */
    maxContext: z.number().int().min(16).max(1_048_576).optional(),
    /** Prompts' prefills in int8 (a second session of the same weights; decode stays float32) or float32. */
    prefill: z.enum(['int8', 'float32']).optional(),
  })
  .strict();
export type GeneratorThreadData = z.infer<typeof GeneratorThreadDataSchema>;

const SamplingSchema = z.object({
  temperature: z.number().min(0).max(2),
  topP: z.number().gt(0).max(1),
  topK: z.number().int().min(1).max(1000),
  maxTokens: z.number().int().min(1),
  stop: z.array(z.string()),
  seed: z.number().int().min(0).max(0xffffffff),
});

export const GeneratorCommandSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('submit'),
    id: z.string(),
    messages: z.array(z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() })),
    sampling: SamplingSchema,
  }),
  z.object({ kind: z.literal('cancel'), id: z.string() }),
  z.object({ kind: z.literal('drain') }),
]);
export type GeneratorCommand = z.infer<typeof GeneratorCommandSchema>;

export type GeneratorEvent =
  | { kind: 'ready' }
  | { kind: 'delta'; id: string; text: string }
  | { kind: 'done'; id: string; finishReason: 'stop' | 'length' | 'cancelled'; promptTokens: number; completionTokens: number }
  | { kind: 'rejected'; id: string; message: string }
  | { kind: 'drained' }
  | { kind: 'error'; message: string };
