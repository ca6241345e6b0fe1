import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The routes a request is counted under (a bounded label: anything else is `other`). */
export type ServingRoute = 'chat_completions' | 'models' | 'healthz' | 'readyz' | 'metrics' | 'other';

export function routeOf(pathname: string): ServingRoute {
  switch (pathname) {
    case '/v1/chat/completions':
      return 'chat_completions';
    case '/v1/models':
      return 'models';
    case '/healthz':
      return 'healthz';
    case '/readyz':
      return 'readyz';
    case '/metrics':
      return 'metrics';
    default:
      return 'other';
  }
}

/**
 * The chat API's Prometheus metrics (`GET /metrics`). Labels are bounded: routes, status codes,
 * guardrail rules, severities and actions, the model version; never a request id or text.
 */
export class ServingMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'code'>;
  readonly duration: Histogram<'route' | 'stream'>;
  readonly firstToken: Histogram<'stream'>;
  readonly completionTokens: Counter;
  readonly promptTokens: Counter;
  readonly guardrailEvents: Counter<'rule' | 'severity' | 'action'>;
  readonly guardrailSeconds: Histogram;

  constructor(state: { inFlight: () => number; maxBatch: number; maxQueue: number; model: () => string | undefined }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'pixel_serve_requests_total',
      help: 'HTTP requests answered, by route and status code',
      labelNames: ['route', 'code'],
      registers,
    });
    this.duration = new Histogram({
      name: 'pixel_serve_request_duration_seconds',
      help: 'Time from a request to the end of its response, by route and whether it streamed',
      labelNames: ['route', 'stream'],
      buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 0.8, 1, 2, 4, 8, 16, 32, 64],
      registers,
    });
    this.firstToken = new Histogram({
      name: 'pixel_serve_time_to_first_token_seconds',
      help: 'Time from a chat request to the first text the model generated for it',
      labelNames: ['stream'],
      buckets: [0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8],
      registers,
    });
    this.completionTokens = new Counter({
      name: 'pixel_serve_completion_tokens_total',
      help: 'Tokens generated (rate() of it: tokens per second)',
      registers,
    });
    this.promptTokens = new Counter({ name: 'pixel_serve_prompt_tokens_total', help: 'Prompt tokens of answered chat requests', registers });
    this.guardrailEvents = new Counter({
      name: 'pixel_serve_guardrail_events_total',
      help: 'Guardrail decisions by rule (crisis, a content gate, pii:<type>), severity and action',
      labelNames: ['rule', 'severity', 'action'],
      registers,
    });
    // The decisions alerts watch exist from the start at 0, so that the first one is an increase.
    for (const severity of ['HIGH', 'IMMINENT']) this.guardrailEvents.inc({ rule: 'crisis', severity, action: 'protocol' }, 0);
    this.guardrailEvents.inc({ rule: 'pii', severity: 'WARNING', action: 'redacted' }, 0);
    this.guardrailSeconds = new Histogram({
      name: 'pixel_serve_guardrail_seconds',
      help: 'Wall time a chat request spent in its guardrails',
      buckets: [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128],
      registers,
    });
    new Gauge({
      name: 'pixel_serve_requests_in_progress',
      help: 'Chat requests admitted and not finished (decoding or waiting for a place in the batch)',
      registers,
      collect() {
        this.set(state.inFlight());
      },
    });
    new Gauge({
      name: 'pixel_serve_queue_depth',
      help: 'Chat requests waiting for a place in the running batch',
      registers,
      collect() {
        this.set(Math.max(0, state.inFlight() - state.maxBatch));
      },
    });
    new Gauge({ name: 'pixel_serve_queue_limit', help: 'Requests that may wait before the server answers 429', registers }).set(state.maxQueue);
    new Gauge({ name: 'pixel_serve_max_batch', help: 'Requests decoded together', registers }).set(state.maxBatch);
    new Gauge({
      name: 'pixel_serve_model_info',
      help: 'The model version answering new requests (1 for it)',
      labelNames: ['version'],
      registers,
      collect() {
        this.reset();
        const version = state.model();
        if (version) this.set({ version }, 1);
      },
    });
  }

  /** The Prometheus text exposition and its content type. */
  async exposition(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
