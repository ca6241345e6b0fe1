/** Task queue for workflows and CPU-bound activities (preparation, safety, augmentation, scoring). */
export const CPU_TASK_QUEUE = 'pixel-cpu';
/** Task queue for accelerator work (fine-tuning, generation, sweep trials). */
export const GPU_TASK_QUEUE = 'pixel-gpu';

export type TaskQueueName = typeof CPU_TASK_QUEUE | typeof GPU_TASK_QUEUE;
