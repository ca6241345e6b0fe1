import type { Command } from 'commander';
import { createPiiEngine } from '../shared/safety/pii';
import { sharedCrisisScreen } from '../shared/safety/learned/screen';
import { sharedPersonTagger } from '../shared/safety/pii/rampart';
import { scanJsonl, scanTextScreened } from '../shared/safety/scan';

export function registerSafetyScanCommand(safety: Command): void {
  safety
    .command('scan')
    .description('Scan texts for crisis language, PII, bias and content gates, and redact the PII (one JSON line per input line)')
    .option('--input <file>', 'JSONL of {"id","text"} lines or conversation records')
    .option('--output <file>', 'where to write the results (with --input)')
    .option('--text <text>', 'scan one text and print the result')
    .option('--rules-only', 'the rules alone: no sentence encoder and learned crisis head, no learned name tagger')
    .addHelpText(
      'after',
      '\nOutput per line: {"id", "crisis": {"severity","types","confidence","timeline","protocol","rung","ruleSeverity","screened","probability"?,"urgentProbability"?}, "pii": [{"category","start","end","score"}], "bias": [{"type","level","start","end"}], "gates": [{"gate","severity","start","end"}], "redacted"}.',
    )
    .action(async (opts: { input?: string; output?: string; text?: string; rulesOnly?: boolean }) => {
      const engine = createPiiEngine();
      const models = opts.rulesOnly
        ? { crisis: await sharedCrisisScreen('rules') }
        : { crisis: await sharedCrisisScreen('learned'), persons: await sharedPersonTagger() };
      if (opts.text !== undefined) {
        if (opts.input) throw new Error('give either --text or --input, not both');
        console.log(JSON.stringify(await scanTextScreened('text', opts.text, engine, models)));
        return;
      }
      if (!opts.input || !opts.output) throw new Error('give --input and --output, or --text');
      const { lines, errors } = await scanJsonl(
        opts.input,
        opts.output,
        engine,
        (n) => process.stderr.isTTY && process.stderr.write(`\r  scanned ${n} lines`),
        models,
      );
      if (process.stderr.isTTY) process.stderr.write('\n');
      console.log(`scanned ${lines} lines into ${opts.output} (${errors} with errors)`);
      // A scan with unreadable lines still writes every line (errors in place), but does not pass.
      if (errors > 0 || lines === 0)
        throw new Error(
          lines === 0 ? `${opts.input} holds no lines` : `${errors} of ${lines} lines could not be scanned (their error lines are in ${opts.output})`,
        );
    });
}
