import { artifactStoreFromEnv } from '../shared/artifacts';
import { createCpuWorker } from './factory';
import { runWorkerProcess } from './run-worker';

void runWorkerProcess('cpu-worker', (connection, namespace, metrics) =>
  createCpuWorker({ connection, namespace, store: artifactStoreFromEnv(), ...(metrics ? { metrics } : {}) }),
);
