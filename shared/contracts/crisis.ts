/**
 * The crisis vocabulary every part of Pixel speaks: the safety engine labels with it, the
 * synthetic data and the augmentation's crisis scenarios are written in it, and evaluation
 * balances and scores by it. Severities follow the Columbia Suicide Severity Rating Scale ladder.
 */
export const CRISIS_TYPES = ['suicidal_ideation', 'self_harm', 'psychosis', 'violence', 'substance_abuse', 'severe_depression', 'panic'] as const;
export type CrisisType = (typeof CRISIS_TYPES)[number];

/** Crisis severities, mildest first. */
export const CRISIS_SEVERITIES = ['NONE', 'LOW', 'MODERATE', 'HIGH', 'IMMINENT'] as const;
export type CrisisSeverity = (typeof CRISIS_SEVERITIES)[number];

/** A severity's place on the ladder (NONE 0 .. IMMINENT 4). */
export const CRISIS_SEVERITY_RANK: Readonly<Record<CrisisSeverity, number>> = { NONE: 0, LOW: 1, MODERATE: 2, HIGH: 3, IMMINENT: 4 };

/** Whether `severity` is `floor` or worse. */
export function severityAtLeast(severity: CrisisSeverity, floor: CrisisSeverity): boolean {
  return CRISIS_SEVERITY_RANK[severity] >= CRISIS_SEVERITY_RANK[floor];
}

/** The severity label a record carries (`severity:moderate`), lower-case as labels are. */
export function severityLabel(severity: CrisisSeverity): string {
  return `severity:${severity.toLowerCase()}`;
}

/** Whether a record label is one of the crisis labels (`crisis`, `crisis:<type>`, `severity:<level>`). */
export function isCrisisLabel(label: string): boolean {
  return label === 'crisis' || label.startsWith('crisis:') || label.startsWith('severity:');
}

/**
 * The Columbia (C-SSRS) ladder a crisis assessment is placed on, lowest first: no risk, wish to be
 * dead, suicidal thoughts, thoughts with a method, intent, a plan, behaviour (an attempt or
 * preparation, or self-harm acts).
 */
export const CSSRS_LADDER = ['none', 'wish_to_be_dead', 'ideation', 'ideation_with_method', 'intent', 'plan', 'behaviour'] as const;
export type CssrsRung = (typeof CSSRS_LADDER)[number];
export const CSSRS_RANK: Readonly<Record<CssrsRung, number>> = Object.fromEntries(CSSRS_LADDER.map((r, i) => [r, i])) as Record<CssrsRung, number>;
