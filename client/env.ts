import * as path from 'node:path';

/** Where Pixel keeps local state: the Temporal database, artifacts and logs. */
export function pixelHome(): string {
  return path.resolve(process.env.PIXEL_HOME ?? '.pixel');
}

export interface TemporalSettings {
  address: string;
  namespace: string;
  /** Base URL of the Temporal Web UI, for links printed to people. */
  uiUrl: string;
}

/** Connection settings from `PIXEL_TEMPORAL_ADDRESS`, `PIXEL_NAMESPACE`, `PIXEL_TEMPORAL_UI`. */
export function temporalSettings(): TemporalSettings {
  return {
    address: process.env.PIXEL_TEMPORAL_ADDRESS ?? 'localhost:7233',
    namespace: process.env.PIXEL_NAMESPACE ?? 'default',
    uiUrl: process.env.PIXEL_TEMPORAL_UI ?? 'http://localhost:8233',
  };
}

/** Link to one workflow run in the Temporal Web UI. */
export function workflowUiUrl(settings: TemporalSettings, workflowId: string, runId?: string): string {
  const base = `${settings.uiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(settings.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${encodeURIComponent(runId)}/history` : base;
}
