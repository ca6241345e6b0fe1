import { Client, Connection } from '@temporalio/client';
import { temporalSettings, type TemporalSettings } from './env';

/** A client for the stack's Temporal (`PIXEL_TEMPORAL_ADDRESS`, `PIXEL_NAMESPACE`), or one clear line saying how to start it. */
export async function connectTemporal(): Promise<{ connection: Connection; client: Client; settings: TemporalSettings }> {
  const settings = temporalSettings();
  const connection = await Connection.connect({ address: settings.address, connectTimeout: 5_000 }).catch((err: unknown) => {
    throw new Error(`cannot reach Temporal at ${settings.address} (${String(err)}); start the stack with \`pixel dev\``);
  });
  return { connection, client: new Client({ connection, namespace: settings.namespace }), settings };
}
