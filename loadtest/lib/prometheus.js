// Reads the Prometheus text exposition format and turns two scrapes of MoeServe's /metrics into
// per-layer expert balance over the interval between them. Pure JavaScript, no dependencies.

/** Metric names this module reads (issue 5; the server registers them). */
export const METRICS = {
  expertTokens: 'moeserve_expert_tokens_total',
  batchMaxViolation: 'moeserve_batch_max_violation',
  routerBias: 'moeserve_router_bias',
};

/** Server-side latency histograms summarised over a run (the server's own clock, exact TTFT). */
export const LATENCY_HISTOGRAMS = {
  timeToFirstToken: 'moeserve_time_to_first_token_seconds',
  interTokenLatency: 'moeserve_inter_token_latency_seconds',
  endToEnd: 'moeserve_e2e_request_latency_seconds',
  queueTime: 'moeserve_request_queue_time_seconds',
};

function unescapeLabel(value) {
  return value.replace(/\\(["\\n])/g, (_, c) => (c === 'n' ? '\n' : c));
}

/**
 * Parses exposition text into samples. Comments (# HELP, # TYPE) and timestamps are skipped.
 * @returns {{ name: string, labels: Record<string, string>, value: number }[]}
 */
export function parseExposition(text) {
  const samples = [];
  for (const raw of String(text).split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels = {};
    if (m[3]) {
      for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = unescapeLabel(l[2]);
    }
    const value = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    samples.push({ name: m[1], labels, value });
  }
  return samples;
}

function seriesKey(labels, without = []) {
  return Object.keys(labels).filter((k) => !without.includes(k)).sort().map((k) => `${k}=${labels[k]}`).join(',');
}

/** Counter increase between two scrapes; a restart in between (value went down) counts from zero. */
export function increase(before, after) {
  return after >= before ? after - before : after;
}

/** Values of one metric by label key. */
function byKey(samples, name) {
  const map = new Map();
  for (const s of samples) if (s.name === name) map.set(seriesKey(s.labels), s);
  return map;
}

/** histogram_quantile's linear interpolation over cumulative bucket counts [{ le, count }]. */
export function bucketQuantile(q, buckets) {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  if (sorted.length === 0) return Number.NaN;
  const total = sorted[sorted.length - 1].count;
  if (!(total > 0)) return Number.NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of sorted) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe; // the top finite bound is the best we can say
      const inBucket = b.count - prevCount;
      return inBucket > 0 ? prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket : b.le;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

/**
 * Expert balance over the interval between two scrapes, per layer:
 * tokens routed to each expert and its share, MaxVio over the whole interval
 * ((max load - mean load) / mean load, the paper's MaxVio on the interval's tokens), and the
 * per-step MaxVio histogram's mean and quantiles (the batch-level imbalance the server saw).
 * @param {string} beforeText exposition text scraped before the run
 * @param {string} afterText exposition text scraped after the run
 * @param {{ experts?: number }} [options] experts per layer, when the server creates series lazily
 */
export function expertBalance(beforeText, afterText, options = {}) {
  const before = parseExposition(beforeText);
  const after = parseExposition(afterText);
  const beforeTokens = byKey(before, METRICS.expertTokens);
  const layers = new Map();
  const layerOf = (layer) => {
    if (!layers.has(layer)) layers.set(layer, { layer, experts: new Map(), steps: 0, maxVioSum: 0, buckets: [] });
    return layers.get(layer);
  };
  for (const s of after) {
    if (s.name !== METRICS.expertTokens) continue;
    const prev = beforeTokens.get(seriesKey(s.labels));
    const e = layerOf(s.labels.layer);
    const key = s.labels.expert;
    e.experts.set(key, (e.experts.get(key) ?? 0) + increase(prev ? prev.value : 0, s.value));
  }
  // Experts that the bias gauge lists but no token reached still count towards the mean.
  for (const s of after) {
    if (s.name === METRICS.routerBias && s.labels.layer !== undefined) {
      const e = layerOf(s.labels.layer);
      if (!e.experts.has(s.labels.expert)) e.experts.set(s.labels.expert, 0);
    }
  }
  const beforeHist = (suffix) => byKey(before, `${METRICS.batchMaxViolation}${suffix}`);
  const hb = beforeHist('_bucket');
  const hc = beforeHist('_count');
  const hs = beforeHist('_sum');
  for (const s of after) {
    if (s.name === `${METRICS.batchMaxViolation}_bucket`) {
      const prev = hb.get(seriesKey(s.labels));
      layerOf(s.labels.layer).buckets.push({ le: s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), count: increase(prev ? prev.value : 0, s.value) });
    } else if (s.name === `${METRICS.batchMaxViolation}_count`) {
      const prev = hc.get(seriesKey(s.labels));
      layerOf(s.labels.layer).steps += increase(prev ? prev.value : 0, s.value);
    } else if (s.name === `${METRICS.batchMaxViolation}_sum`) {
      const prev = hs.get(seriesKey(s.labels));
      layerOf(s.labels.layer).maxVioSum += increase(prev ? prev.value : 0, s.value);
    }
  }

  const result = [...layers.values()]
    .filter((l) => l.layer !== undefined)
    .sort((a, b) => Number(a.layer) - Number(b.layer))
    .map((l) => {
      const m = Math.max(l.experts.size, options.experts ?? 0);
      const ids = [...l.experts.keys()].sort((a, b) => Number(a) - Number(b));
      for (let j = 0; ids.length < m; j++) if (!l.experts.has(String(j))) { l.experts.set(String(j), 0); ids.push(String(j)); }
      ids.sort((a, b) => Number(a) - Number(b));
      const tokens = ids.map((id) => l.experts.get(id));
      const total = tokens.reduce((a, b) => a + b, 0);
      const mean = m > 0 ? total / m : 0;
      return {
        layer: Number(l.layer),
        experts: ids.map(Number),
        tokens,
        total,
        shares: tokens.map((t) => (total > 0 ? t / total : 0)),
        maxVio: mean > 0 ? (Math.max(...tokens) - mean) / mean : Number.NaN,
        steps: l.steps,
        meanStepMaxVio: l.steps > 0 ? l.maxVioSum / l.steps : Number.NaN,
        stepMaxVioP50: bucketQuantile(0.5, l.buckets),
        stepMaxVioP95: bucketQuantile(0.95, l.buckets),
      };
    });
  const finite = (xs) => xs.filter(Number.isFinite);
  const avg = (xs) => (finite(xs).length > 0 ? finite(xs).reduce((a, b) => a + b, 0) / finite(xs).length : Number.NaN);
  return {
    layers: result,
    averageMaxVio: avg(result.map((l) => l.maxVio)),
    averageMeanStepMaxVio: avg(result.map((l) => l.meanStepMaxVio)),
  };
}

/** Increases of every other moeserve_ counter (name{labels} -> increase), for context in the report. */
export function counterIncreases(beforeText, afterText, prefix = 'moeserve_') {
  const out = [];
  const prev = new Map(parseExposition(beforeText).filter((s) => s.name.endsWith('_total')).map((s) => [`${s.name}{${seriesKey(s.labels)}}`, s.value]));
  for (const s of parseExposition(afterText)) {
    if (!s.name.startsWith(prefix) || !s.name.endsWith('_total') || s.name === METRICS.expertTokens) continue;
    const key = `${s.name}{${seriesKey(s.labels)}}`;
    const inc = increase(prev.get(key) ?? 0, s.value);
    if (inc > 0) out.push({ series: key, increase: inc });
  }
  return out;
}

/**
 * A histogram's observations between two scrapes, all label sets summed: count, mean and
 * interpolated quantiles. Count 0 (and NaN statistics) when the histogram did not move.
 */
export function histogramOverRun(beforeText, afterText, name) {
  const sumBy = (samples, suffix) => {
    const byLe = new Map();
    let total = 0;
    for (const s of samples) {
      if (s.name !== `${name}${suffix}`) continue;
      if (suffix === '_bucket') {
        const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
        byLe.set(le, (byLe.get(le) ?? 0) + s.value);
      } else total += s.value;
    }
    return suffix === '_bucket' ? byLe : total;
  };
  const before = parseExposition(beforeText);
  const after = parseExposition(afterText);
  const bucketsBefore = sumBy(before, '_bucket');
  const buckets = [...sumBy(after, '_bucket')].map(([le, count]) => ({ le, count: increase(bucketsBefore.get(le) ?? 0, count) }));
  const count = increase(sumBy(before, '_count'), sumBy(after, '_count'));
  const sum = increase(sumBy(before, '_sum'), sumBy(after, '_sum'));
  return {
    name,
    count,
    mean: count > 0 ? sum / count : Number.NaN,
    p50: bucketQuantile(0.5, buckets),
    p95: bucketQuantile(0.95, buckets),
    p99: bucketQuantile(0.99, buckets),
  };
}

/** The server's latency histograms over the run, keyed as in LATENCY_HISTOGRAMS. */
export function latencyOverRun(beforeText, afterText) {
  return Object.fromEntries(Object.entries(LATENCY_HISTOGRAMS).map(([key, name]) => [key, histogramOverRun(beforeText, afterText, name)]));
}
