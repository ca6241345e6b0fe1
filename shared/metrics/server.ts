import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** `host:port` → its parts; the port may be 0 (any free one). Throws a clear error otherwise. */
export function parseAddress(value: string, what: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new Error(`${what} must be host:port (for example 0.0.0.0:9464), got ${JSON.stringify(value.slice(0, 80))}`);
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port };
}

/** A free TCP port on the loopback interface (for the Temporal SDK's exporter, which wants a fixed address). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Whether a TCP port on the loopback interface can be bound now. */
export function loopbackPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export interface MetricsServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` in the Prometheus text format: the registry's metrics, then, when
 * `alsoFrom` is given, the text of another exporter in the same process (the Temporal SDK's,
 * bound on loopback), so each process has one scrape target. If that exporter does not answer,
 * the registry's metrics are still served, with `pixel_metrics_sdk_up 0`.
 */
export async function startMetricsServer(o: { registry: Registry; host: string; port: number; alsoFrom?: string }): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('only GET /metrics here\n');
      return;
    }
    void (async () => {
      let text = await o.registry.metrics();
      if (o.alsoFrom) {
        let up = 0;
        try {
          const sdk = await fetch(o.alsoFrom, { signal: AbortSignal.timeout(3000) });
          if (sdk.ok) {
            text += `${(await sdk.text()).trimEnd()}\n`;
            up = 1;
          }
        } catch {
          // Served without the SDK's metrics; the gauge below says so.
        }
        text += `# HELP pixel_metrics_sdk_up Whether the Temporal SDK's metrics answered for this scrape\n# TYPE pixel_metrics_sdk_up gauge\npixel_metrics_sdk_up ${up}\n`;
      }
      res.writeHead(200, { 'content-type': o.registry.contentType, 'content-length': Buffer.byteLength(text) });
      res.end(text);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('metrics failed\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host === '0.0.0.0' ? '127.0.0.1' : o.host;
  return {
    server,
    url: `http://${host}:${port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
