// Reads the load test's settings from environment variables and turns them into k6 options.
// Pure JavaScript (no k6 imports) so that Node can test it: k6 passes __ENV, Node passes an object.

/** Executors a user can pick with SCENARIO. */
export const SCENARIOS = ['constant-vus', 'constant-arrival-rate', 'ramping-arrival-rate'];

/** APIs a user can pick with API. */
export const APIS = ['completions', 'chat'];

const DEFAULTS = {
  BASE_URL: 'http://localhost:8080',
  MODEL: 'default',
  API: 'completions',
  SCENARIO: 'constant-vus',
  VUS: '8',
  RATE: '1',
  MAX_VUS: '64',
  DURATION: '60s',
  MAX_TOKENS: '64',
  TEMPERATURE: '0.8',
  SEED: '1234',
  P95_MS: '60000',
  TTFB_P95_MS: '10000',
  MAX_FAILED_RATE: '0',
  TIMEOUT: '180s',
  IGNORE_EOS: 'false',
};

/** Parses "90s", "2m", "1m30s", "1500ms", "1h" into seconds; NaN when malformed. */
export function parseDurationSeconds(text) {
  const s = String(text).trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(s)) return Number.NaN;
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600 };
  let total = 0;
  // An exec loop rather than matchAll: k6's JavaScript runtime is not Node.
  const part = /(\d+(\.\d+)?)(ms|s|m|h)/g;
  for (let m = part.exec(s); m !== null; m = part.exec(s)) total += Number(m[1]) * unit[m[3]];
  return total;
}

/** Seconds as a k6 duration string ("37s"); whole seconds are enough for scenario stages. */
export function formatSeconds(seconds) {
  return `${Math.max(1, Math.round(seconds))}s`;
}

function numberSetting(env, name, errors, { integer = false, min = -Infinity, max = Infinity } = {}) {
  const raw = env[name] ?? DEFAULTS[name];
  const value = Number(raw);
  if (raw === '' || !Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min || value > max) {
    const kind = integer ? 'an integer' : 'a number';
    const range = max === Infinity ? `>= ${min}` : `in [${min}, ${max}]`;
    errors.push(`${name}=${JSON.stringify(raw)} must be ${kind} ${range}`);
    return Number.NaN;
  }
  return value;
}

function durationSetting(env, name, errors) {
  const raw = env[name] ?? DEFAULTS[name];
  const seconds = parseDurationSeconds(raw);
  if (!(seconds > 0)) {
    errors.push(`${name}=${JSON.stringify(raw)} must be a duration such as 30s, 2m or 1m30s`);
  }
  return seconds;
}

function booleanSetting(env, name, errors) {
  const raw = String(env[name] ?? DEFAULTS[name]).toLowerCase();
  if (['1', 'true', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'no'].includes(raw)) return false;
  errors.push(`${name}=${JSON.stringify(env[name])} must be true or false (1/0, yes/no)`);
  return false;
}

function choiceSetting(env, name, choices, errors) {
  const value = env[name] ?? DEFAULTS[name];
  if (!choices.includes(value)) errors.push(`${name}=${JSON.stringify(value)} must be one of ${choices.join(', ')}`);
  return value;
}

/**
 * Reads every setting, validates them all and throws one Error listing every problem, so a
 * user fixes a command line in one go.
 * @param {Record<string, string|undefined>} env k6's __ENV or process.env
 */
export function parseConfig(env) {
  const errors = [];
  const baseUrl = String(env.BASE_URL ?? DEFAULTS.BASE_URL).replace(/\/+$/, '');
  if (!/^https?:\/\/[^\s/]+/.test(baseUrl)) errors.push(`BASE_URL=${JSON.stringify(env.BASE_URL)} must start with http:// or https://`);
  const model = String(env.MODEL ?? DEFAULTS.MODEL);
  if (model.trim() === '') errors.push('MODEL must not be empty');
  const config = {
    baseUrl,
    model,
    api: choiceSetting(env, 'API', APIS, errors),
    scenario: choiceSetting(env, 'SCENARIO', SCENARIOS, errors),
    vus: numberSetting(env, 'VUS', errors, { integer: true, min: 1, max: 10000 }),
    rate: numberSetting(env, 'RATE', errors, { min: 1 / 60, max: 100000 }),
    maxVus: numberSetting(env, 'MAX_VUS', errors, { integer: true, min: 1, max: 10000 }),
    durationSeconds: durationSetting(env, 'DURATION', errors),
    maxTokens: numberSetting(env, 'MAX_TOKENS', errors, { integer: true, min: 1, max: 1000000 }),
    temperature: numberSetting(env, 'TEMPERATURE', errors, { min: 0, max: 2 }),
    seed: numberSetting(env, 'SEED', errors, { integer: true, min: 0, max: 2147483647 }),
    p95Ms: numberSetting(env, 'P95_MS', errors, { min: 1 }),
    ttfbP95Ms: numberSetting(env, 'TTFB_P95_MS', errors, { min: 1 }),
    maxFailedRate: numberSetting(env, 'MAX_FAILED_RATE', errors, { min: 0, max: 1 }),
    timeout: String(env.TIMEOUT ?? DEFAULTS.TIMEOUT),
    // Every completion runs to MAX_TOKENS (the server's ignore_eos): fixed work per request for throughput runs.
    ignoreEos: booleanSetting(env, 'IGNORE_EOS', errors),
  };
  if (!(parseDurationSeconds(config.timeout) > 0)) errors.push(`TIMEOUT=${JSON.stringify(config.timeout)} must be a duration such as 180s`);
  if (errors.length > 0) throw new Error(`Invalid load-test settings:\n  - ${errors.join('\n  - ')}`);
  return config;
}

/**
 * One k6 scenario for the chosen executor. Arrival rates are expressed per minute so that
 * fractional request rates (RATE=0.5) work on a slow CPU server.
 * @param {ReturnType<typeof parseConfig>} config
 * @param {string} exec name of the exported function the scenario runs
 */
export function buildScenario(config, exec = 'default') {
  const duration = formatSeconds(config.durationSeconds);
  const perMinute = Math.max(1, Math.round(config.rate * 60));
  const preAllocatedVUs = Math.min(config.maxVus, Math.max(1, Math.ceil(config.rate * 4)));
  switch (config.scenario) {
    case 'constant-vus':
      return { executor: 'constant-vus', exec, vus: config.vus, duration };
    case 'constant-arrival-rate':
      return { executor: 'constant-arrival-rate', exec, rate: perMinute, timeUnit: '1m', duration, preAllocatedVUs, maxVUs: config.maxVus };
    case 'ramping-arrival-rate': {
      // Warm up from a quarter of RATE, climb to RATE over 40% of the run, hold 40%, step down for 20%:
      // the hold shows whether RATE is sustainable, the climb where latency starts to bend.
      const t = config.durationSeconds;
      return {
        executor: 'ramping-arrival-rate',
        exec,
        startRate: Math.max(1, Math.round(perMinute / 4)),
        timeUnit: '1m',
        preAllocatedVUs,
        maxVUs: config.maxVus,
        stages: [
          { target: perMinute, duration: formatSeconds(t * 0.4) },
          { target: perMinute, duration: formatSeconds(t * 0.4) },
          { target: Math.max(1, Math.round(perMinute / 4)), duration: formatSeconds(t * 0.2) },
        ],
      };
    }
    default:
      throw new Error(`unknown scenario ${config.scenario}`);
  }
}

/**
 * Thresholds that make `k6 run` exit non-zero (exit code 99) when the server falls short:
 * any failed request (at the default MAX_FAILED_RATE=0), a p95 latency above P95_MS, a failed
 * response check, iterations dropped because the server could not keep up with the arrival rate,
 * and for streams a p95 time to first byte above TTFB_P95_MS.
 * @param {ReturnType<typeof parseConfig>} config
 * @param {{ streaming: boolean }} mode
 */
export function buildThresholds(config, { streaming }) {
  const thresholds = {
    http_req_failed: [config.maxFailedRate === 0 ? 'rate==0' : `rate<=${config.maxFailedRate}`],
    http_req_duration: [`p(95)<${config.p95Ms}`],
    checks: ['rate==1'],
  };
  if (config.scenario !== 'constant-vus') thresholds.dropped_iterations = ['count==0'];
  if (streaming) thresholds.stream_time_to_first_byte = [`p(95)<${config.ttfbP95Ms}`];
  return thresholds;
}

/** Full k6 options for one script. */
export function buildOptions(config, { streaming }) {
  return {
    scenarios: { [`${streaming ? 'stream' : 'complete'}_${config.scenario}`]: buildScenario(config) },
    thresholds: buildThresholds(config, { streaming }),
    summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'],
    // setup() waits for readiness; give a cold server time to load its model.
    setupTimeout: '300s',
  };
}
