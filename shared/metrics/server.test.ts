import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Registry } from 'prom-client';
import { parseAddress, startMetricsServer } from './server';

describe('metrics server', () => {
  it('parses host:port and refuses anything else by name', () => {
    expect(parseAddress('0.0.0.0:9464', 'X')).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(parseAddress('[::1]:0', 'X')).toEqual({ host: '::1', port: 0 });
    expect(() => parseAddress('9464', 'PIXEL_METRICS_ADDRESS')).toThrow(/PIXEL_METRICS_ADDRESS must be host:port/);
    expect(() => parseAddress('host:70000', 'X')).toThrow(/host:port/);
  });

  it('serves the registry and another exporter’s text as one /metrics, and says when that exporter is down', async () => {
    const registry = new Registry();
    new Counter({ name: 'pixel_test_total', help: 'a test counter', registers: [registry] }).inc(3);
    const sdk = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('# TYPE temporal_request counter\ntemporal_request{operation="Poll"} 7\n');
    });
    await new Promise<void>((resolve) => sdk.listen(0, '127.0.0.1', resolve));
    const sdkUrl = `http://127.0.0.1:${(sdk.address() as AddressInfo).port}/metrics`;
    const served = await startMetricsServer({ registry, host: '127.0.0.1', port: 0, alsoFrom: sdkUrl });
    try {
      const res = await fetch(served.url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = await res.text();
      expect(text).toMatch(/^pixel_test_total 3$/m);
      expect(text).toMatch(/^temporal_request\{operation="Poll"\} 7$/m);
      expect(text).toMatch(/^pixel_metrics_sdk_up 1$/m);
      await new Promise<void>((resolve) => sdk.close(() => resolve()));
      const down = await (await fetch(served.url)).text();
      expect(down).toMatch(/^pixel_test_total 3$/m);
      expect(down).toMatch(/^pixel_metrics_sdk_up 0$/m);
      expect((await fetch(served.url.replace('/metrics', '/other'))).status).toBe(404);
      expect((await fetch(served.url, { method: 'POST' })).status).toBe(404);
    } finally {
      await served.close();
      sdk.close();
    }
  });
});
