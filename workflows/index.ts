export { trainingPipelineWorkflow } from './pipeline';
export { getProgressQuery } from './messages';
