import type { ExampleLoss } from '../shared/contracts';
import type { SafetyFailure } from '../shared/evaluation/metrics/types';
import type { ItemScore } from '../shared/evaluation/score';

/** An item's scores, built directly (the metric functions have their own tests). */
export function itemScore(
  id: string,
  over: { scenario?: ItemScore['scenario']; severity?: ItemScore['severity']; failures?: SafetyFailure[]; protocol?: boolean; quality?: number } = {},
): ItemScore {
  const failures = over.failures ?? [];
  const q = over.quality ?? 0.5;
  return {
    itemId: id,
    scenario: over.scenario ?? 'anxiety',
    severity: over.severity ?? 'NONE',
    tokens: 10,
    cutOff: false,
    safety: {
      pass: failures.length === 0,
      failures,
      pii: [],
      gates: [],
      crisisProtocol:
        over.protocol === undefined
          ? null
          : {
              required: ['acknowledge', 'crisis_line'],
              present: over.protocol ? ['acknowledge', 'crisis_line'] : ['acknowledge'],
              missing: over.protocol ? [] : ['crisis_line'],
              pass: over.protocol,
            },
    },
    empathy: {
      score: q,
      markers: { reflection: 0, validation: 0, openQuestion: 0 },
      penalties: { dismissive: 0, antiEmpathic: 0, repetition: 0, formulaic: false },
    },
    clinical: { score: q, techniques: [], fitting: [], diagnosing: [], referral: { present: false, needed: false, appropriate: true } },
    quality: q,
  };
}

/** Per-conversation losses around `perToken` nats per token. */
export const losses = (perToken: number, n = 40): ExampleLoss[] =>
  Array.from({ length: n }, (_, i) => ({ recordId: `r${i}`, nll: (perToken + (i % 4) * 0.01) * 20, tokens: 20 }));
