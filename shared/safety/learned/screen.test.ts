import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../../../test/helpers';
import { expectLinear } from '../../../test/linear-time';
import { assessCrisis } from '../crisis/assess';
import { CrisisScreen, combineCrisis, loadGate, ruleRung } from './screen';

const unit = (...texts: string[]) => ({ texts, assessments: texts.map((t) => assessCrisis(t)) });

describe('crisis screen: rules, then the learned head behind a first pass', () => {
  let screen: CrisisScreen;
  let t: ReturnType<typeof tempDir>;
  beforeAll(async () => {
    t = tempDir();
    screen = await CrisisScreen.open();
  }, 60_000);
  afterAll(async () => {
    await screen?.dispose();
    t?.cleanup();
  });

  it('lets through what the rules flag or a gate stem matches, and nothing else reaches the encoder', async () => {
    const before = { ...screen.stats };
    const [plain] = await screen.assess([unit('We talked about the garden and the new fence.')]);
    expect(plain).toMatchObject({ severity: 'NONE', screened: false });
    expect(screen.stats.textsEmbedded).toBe(before.textsEmbedded);
    const [gated] = await screen.assess([unit('Lately everything feels hopeless.')]);
    expect(gated?.screened).toBe(true);
    expect(gated?.probability).toBeGreaterThan(0);
    expect(screen.stats.textsEmbedded).toBe(before.textsEmbedded + 1);
    // The same text again comes from the cache.
    await screen.assess([unit('Lately everything feels hopeless.')]);
    expect(screen.stats.textsEmbedded).toBe(before.textsEmbedded + 1);
    expect(screen.stats.cacheHits).toBeGreaterThan(before.cacheHits);
  });

  it('keeps the verdicts of cached texts when a full cache is cleared, and under concurrent calls', async () => {
    const small = await CrisisScreen.open({ cacheSize: 2 });
    try {
      const a = 'Lately everything feels hopeless.';
      const [first] = await small.assess([unit(a, 'I am so tired of all of it.')]);
      // `a` is cached; two new texts overflow the cache, which is cleared before they are stored.
      const [again, other] = await small.assess([
        unit(a, 'I am so tired of all of it.'),
        unit('Nothing helps and I feel hopeless.', 'I feel empty.'),
      ]);
      expect(again).toEqual(first);
      expect(other?.screened).toBe(true);
      const [x, y] = await Promise.all([small.assess([unit(a, 'I feel empty.')]), small.assess([unit('I cannot go on like this, it is hopeless.')])]);
      expect(x[0]?.probability).toBeGreaterThan(0);
      expect(y[0]?.probability).toBeGreaterThan(0);
    } finally {
      await small.dispose();
    }
  });

  it('spares the encoder a unit the rules already rate HIGH on an urgent rung (the head could change nothing)', async () => {
    const [v] = await screen.assess([unit('I have decided to kill myself tonight, I have the pills ready.')]);
    expect(v?.screened).toBe(false);
    expect(['HIGH', 'IMMINENT']).toContain(v?.severity);
    expect(['intent', 'plan', 'behaviour']).toContain(v?.rung);
  });

  it('near misses (idioms, grief, helping a friend, a refusal) are not raised', async () => {
    const texts = [
      'This commute is killing me, I swear.',
      "I'd kill for a coffee right now.",
      'My phone died in the middle of the call.',
      'I nearly died laughing at that movie.',
      'My grandfather died last year and I still miss him.',
      'I want to learn how to support a friend who is suicidal.',
      'I would never hurt myself, but I feel really sad lately.',
    ];
    const verdicts = await screen.assess(texts.map((x) => unit(x)));
    for (const v of verdicts) {
      expect(v.screened).toBe(true);
      expect(v.raisedByModel).toBe(false);
    }
  });

  it('raises implicit risk the rules rate low, with a probability and a C-SSRS rung', async () => {
    const [v] = await screen.assess([unit('Sometimes I think everyone would be better off if I was gone.')]);
    expect(v?.ruleSeverity).toBe('LOW');
    expect(v?.raisedByModel).toBe(true);
    expect(['MODERATE', 'HIGH']).toContain(v?.severity);
    expect(['ideation', 'intent']).toContain(v?.rung);
  });

  it('rules-only mode never loads or asks the model', async () => {
    const rules = CrisisScreen.rules();
    const [v] = await rules.assess([unit('Sometimes I think everyone would be better off if I was gone.')]);
    expect(v).toMatchObject({ severity: 'LOW', screened: false, raisedByModel: false, rung: 'wish_to_be_dead' });
  });

  it('refuses a head with the wrong sha256 and a missing encoder, naming the file', async () => {
    const { loadCrisisHead } = await import('./crisis-head');
    const { CRISIS_HEAD_FILE } = await import('./models');
    expect(() => loadCrisisHead(CRISIS_HEAD_FILE, 'c'.repeat(64))).toThrow(/has sha256 [0-9a-f]{64}, expected c{64}/);
    const missing = path.join(t.dir, 'no-encoder');
    await expect(CrisisScreen.open({ encoderDir: missing })).rejects.toThrow(new RegExp(`${missing}.*missing`));
    // A head trained on another encoder's embeddings is refused, naming both files' sha256s.
    const { loadDefaultCrisisHead } = await import('./models');
    const head = loadDefaultCrisisHead();
    const other = { ...head, encoder: { ...head.encoder, onnxSha256: 'e'.repeat(64) } };
    await expect(CrisisScreen.open({ head: other })).rejects.toThrow(
      /trained on embeddings of the encoder file with sha256 e{64}, the encoder opened runs [0-9a-f]{64}/,
    );
  });

  it('the first pass is linear in text length on hostile text (near-stems, no spaces, up to 1 MB)', () => {
    const gate = loadGate();
    // Stems at every position, but never at a word start (the whole text is one word).
    const noMatch = (n: number) => 'xsuicid'.repeat(Math.ceil(n / 7)).slice(0, n);
    expectLinear((text) => gate.test(text), noMatch, 250_000);
    expect(gate.test(noMatch(1_000_000))).toBe(false);
    expect(gate.test(`${noMatch(1_000_000)} hopeless`)).toBe(true);
  });

  it('refuses a gate file without stems, naming the field', () => {
    const file = path.join(t.dir, 'gate.yaml');
    writeFileSync(file, 'stems: []\n');
    expect(() => loadGate(file)).toThrow(/crisis gate .*stems/);
  });
});

describe('combining the rules and the head', () => {
  const low = assessCrisis('Sometimes I wish I could just disappear and not wake up.');
  it('the head raises a severity and never lowers one', () => {
    const raised = combineCrisis([low], { anyRisk: 0.9, urgent: 0.8, flagged: true, urgentFlagged: true });
    expect(raised).toMatchObject({ severity: 'HIGH', rung: 'intent', raisedByModel: true, screened: true });
    const high = assessCrisis('I have decided to kill myself tonight, I have the pills ready.');
    const kept = combineCrisis([high], { anyRisk: 0.01, urgent: 0.01, flagged: false, urgentFlagged: false });
    expect(kept.severity).toBe(high.severity);
    expect(kept.raisedByModel).toBe(false);
    expect(kept.rung).toBe(ruleRung(high));
  });
});
