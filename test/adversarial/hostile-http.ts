import { request } from 'node:http';

export interface Answer {
  status: number;
  body: string;
  ms: number;
}

export interface SendOptions {
  headers?: Record<string, string | number>;
  body?: Buffer | string;
  chunks?: () => AsyncIterable<Buffer>;
}

/**
 * A raw HTTP client for the adversarial suites (no client-side normalisation): every request is
 * answered or refused within `boundMs`, and a refusal is checked for its status, speed, and the
 * absence of stack traces and of the `canary` planted in the request.
 */
export function hostileHttp(target: () => { host: string; port: number }, canary: string, boundMs: number, errorMessage: (body: unknown) => string) {
  function send(method: string, path: string, options: SendOptions = {}): Promise<Answer> {
    const started = Date.now();
    const { host, port } = target();
    return new Promise((resolve, reject) => {
      const req = request({ host, port, method, path, headers: options.headers, timeout: boundMs * 2 }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8'), ms: Date.now() - started }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer to ${method} within ${boundMs * 2} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        // The server may answer and close before the whole body is sent (a 413): that is an answer.
        if (err.code === 'EPIPE' || err.code === 'ECONNRESET') resolve({ status: -1, body: '', ms: Date.now() - started });
        else reject(err);
      });
      if (options.chunks) {
        const chunks = options.chunks;
        void (async () => {
          try {
            for await (const c of chunks()) if (!req.write(c)) await new Promise((r) => req.once('drain', r));
            req.end();
          } catch {
            // the server hung up
          }
        })();
      } else req.end(options.body);
    });
  }

  /** A refusal: the status wanted, within the bound, a JSON error without stack or canary. */
  function expectRefusal(a: Answer, statuses: number[], error?: RegExp): void {
    expect({ status: a.status, expected: statuses.includes(a.status), fast: a.ms < boundMs }).toEqual({
      status: a.status,
      expected: true,
      fast: true,
    });
    expect(a.body).not.toContain(canary);
    expect(a.body).not.toMatch(/\n\s+at |node:internal/);
    if (error) expect(errorMessage(JSON.parse(a.body))).toMatch(error);
  }

  /** A body streamed without end (up to 100 MB, far past any limit) must be refused long before it ends. */
  async function expectEndlessBodyRefused(path: string, headers: Record<string, string>): Promise<void> {
    let sent = 0;
    const endless = await send('POST', path, {
      headers: { ...headers, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
      async *chunks() {
        while (sent < 100 * 1024 * 1024) {
          sent += 64 * 1024;
          yield Buffer.alloc(64 * 1024, 0x7b);
        }
      },
    });
    expectRefusal(endless, [413, -1]);
    expect(sent).toBeLessThan(100 * 1024 * 1024);
  }

  return { send, expectRefusal, expectEndlessBodyRefused };
}
