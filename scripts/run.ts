import type { Command } from 'commander';
import { connectTemporal } from '../client/connect';
import { workflowUiUrl } from '../client/env';
import { failureMessage, followPipeline, summarizeResult } from '../client/follow';
import { checkPipelineInput, startPipeline } from '../client/start';
import { readJsonInput } from './options';

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('Start a training pipeline run on a running stack and follow its progress')
    .option('--input <json>', 'pipeline input as a JSON object (default {})')
    .option('--input-file <file>', 'read the pipeline input from a JSON file')
    .option('--id <workflowId>', 'workflow id (default pipeline-<time>-<random>)')
    .option('--detach', 'print the run id and return without waiting')
    .addHelpText('after', '\nConnects to PIXEL_TEMPORAL_ADDRESS (default localhost:7233). Start the stack first with `pixel dev`.')
    .action(async (opts: { input?: string; inputFile?: string; id?: string; detach?: boolean }) => {
      const input = readJsonInput(opts.input, opts.inputFile);
      checkPipelineInput(input);
      const { connection, client, settings } = await connectTemporal();
      try {
        const handle = await startPipeline(client, input, opts.id);
        console.log(`started ${handle.workflowId}`);
        console.log(`  ${workflowUiUrl(settings, handle.workflowId)}`);
        if (opts.detach) return;
        try {
          const reviewUrl = process.env.PIXEL_REVIEW_URL ?? 'http://localhost:8234';
          const onStage = (stage: string) => {
            if (stage === 'review')
              console.log(
                `the run waits for expert review: reviewers open ${reviewUrl} with their sign-in links (\`pixel review link --reviewer ID\`)`,
              );
          };
          console.log(summarizeResult(await followPipeline(handle, console.log, onStage)));
        } catch (err) {
          throw new Error(`run ${handle.workflowId} failed: ${failureMessage(err)}`);
        }
      } finally {
        await connection.close();
      }
    });
}
