export { trainingPipelineWorkflow } from './pipeline';
export { getProgressQuery } from './messages';
export { expertReviewWorkflow } from './expert-review';
