import { Command } from 'commander';
import { errorLine } from '../shared/util/files';
import { registerBenchAugmentCommand } from './bench-augment';
import { registerBenchBaseModelCommand } from './bench-base-model';
import { registerBenchDataCommand } from './bench-data';
import { registerBenchEvalCommand } from './bench-eval';
import { registerBenchEvalMetricsCommand } from './bench-eval-metrics';
import { registerBenchLargeModelCommand } from './bench-large-model';
import { registerBenchSafetyCommand } from './bench-safety';
import { registerBenchSweepCommand } from './bench-sweep';
import { registerBenchTrainCommand } from './bench-train';
import { registerBenchTrainStepCommand } from './bench-train-step';
import { registerDataAugmentCommand } from './data-augment';
import { registerDataGenerateCommand } from './data-generate';
import { registerDataPrepareCommand } from './data-prepare';
import { registerDevCommand } from './dev';
import { registerEvalCommands } from './eval';
import { registerReviewCommands } from './review';
import { registerModelCommands } from './model';
import { registerRunCommand } from './run';
import { registerScheduleCommands } from './schedule';
import { registerSweepCommands } from './sweep';
import { registerSafetyScanCommand } from './safety-scan';
import { registerSafetyTrainCommand } from './safety-train';

const program = new Command();
program.name('pixel').description('Train and ship a therapeutic conversational model through durable Temporal workflows.').showHelpAfterError();

registerDevCommand(program);
registerRunCommand(program);
registerModelCommands(program);
registerEvalCommands(program);
registerReviewCommands(program);
registerScheduleCommands(program);
registerSweepCommands(program);
const data = program.command('data').description('Generate and prepare conversation data');
registerDataGenerateCommand(data);
registerDataPrepareCommand(data);
registerDataAugmentCommand(data);
const safety = program.command('safety').description('Safety checks on texts');
registerSafetyScanCommand(safety);
registerSafetyTrainCommand(safety);
const bench = program.command('bench').description('Benchmarks that print JSON figures');
registerBenchDataCommand(bench);
registerBenchSafetyCommand(bench);
registerBenchAugmentCommand(bench);
registerBenchTrainStepCommand(bench);
registerBenchBaseModelCommand(bench);
registerBenchTrainCommand(bench);
registerBenchEvalMetricsCommand(bench);
registerBenchEvalCommand(bench);
registerBenchSweepCommand(bench);
registerBenchLargeModelCommand(bench);

program.parseAsync(process.argv).catch((err: unknown) => {
  // One line, whatever failed: no stack, no raw input.
  console.error(`pixel: ${errorLine(err)}`);
  process.exit(1);
});
