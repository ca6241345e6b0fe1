export { trainingPipelineWorkflow } from './pipeline';
export { getProgressQuery } from './messages';
export { expertReviewWorkflow } from './expert-review';
export { hyperparameterSweepWorkflow } from './sweep';
