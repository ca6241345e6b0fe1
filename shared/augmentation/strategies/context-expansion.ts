import type { Message } from '../../contracts';
import { isCrisisRecord, type Strategy } from './types';

/**
 * Context expansion: states the therapeutic setting, the presenting concern (from the topic),
 * the emotion the opening message suggests and a therapeutic goal, in the system turn (appended
 * to one that exists, else a new one). Crisis records get the safety-first goal.
 */
export const contextExpansion: Strategy = (record, { rng, lexicon }) => {
  const { context } = lexicon;
  const topic = record.topic in context.concerns ? record.topic : 'general';
  const opening = (record.messages.find((m) => m.role === 'user')?.content ?? '').toLowerCase();
  const emotions = Object.entries(context.emotions)
    .filter(([, cues]) =>
      cues.some((cue) => new RegExp(String.raw`(?<![\p{L}])${cue.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\p{L}])`, 'u').test(opening)),
    )
    .map(([emotion]) => emotion);
  const setting = rng.pick(context.settings);
  const concern = rng.pick(context.concerns[topic] ?? context.concerns.general ?? []);
  const emotion = emotions.length > 0 ? rng.pick(emotions) : undefined;
  const crisis = isCrisisRecord(record);
  const goal = crisis ? context.crisisGoal : rng.pick(context.goals[topic] ?? context.goals.general ?? []);
  const text = [
    `Context: ${setting}.`,
    `The person is dealing with ${concern}.`,
    emotion ? `They seem ${emotion}.` : 'How they feel is not clear yet; explore it gently.',
    `Goal: ${crisis ? goal : `help them ${goal}.`}`,
  ].join(' ');
  const [first, ...rest] = record.messages;
  const messages: Message[] =
    first?.role === 'system'
      ? [{ role: 'system', content: `${first.content}\n\n${text}` }, ...rest]
      : [{ role: 'system', content: text }, ...record.messages];
  return { messages, params: { setting, concern, emotion: emotion ?? null, goal: crisis ? 'crisis-safety' : goal } };
};
