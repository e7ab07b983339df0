// Node's test runner checks the load test's pure modules: settings, scenarios, thresholds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, buildOptions, buildScenario, parseDurationSeconds, SCENARIOS } from '../../../loadtest/lib/config.js';

test('parseConfig_NoVariables_UsesDefaultsThatPassValidation', () => {
  const c = parseConfig({});
  assert.equal(c.baseUrl, 'http://localhost:8080');
  assert.equal(c.model, 'default');
  assert.equal(c.scenario, 'constant-vus');
  assert.ok(c.maxTokens >= 1);
});

test('parseConfig_SeveralBadVariables_ListsEveryProblemAtOnce', () => {
  assert.throws(
    () => parseConfig({ SCENARIO: 'soak', RATE: 'fast', MAX_TOKENS: '0', DURATION: '10 minutes', BASE_URL: 'localhost' }),
    (e) => ['SCENARIO', 'RATE', 'MAX_TOKENS', 'DURATION', 'BASE_URL'].every((name) => e.message.includes(name)),
  );
});

test('parseConfig_IgnoreEos_ParsesBooleansAndRefusesOtherWords', () => {
  assert.equal(parseConfig({}).ignoreEos, false);
  assert.equal(parseConfig({ IGNORE_EOS: '1' }).ignoreEos, true);
  assert.equal(parseConfig({ IGNORE_EOS: 'true' }).ignoreEos, true);
  assert.equal(parseConfig({ IGNORE_EOS: 'no' }).ignoreEos, false);
  assert.throws(() => parseConfig({ IGNORE_EOS: 'maybe' }), (e) => e.message.includes('IGNORE_EOS'));
});

test('parseConfig_TrailingSlashInBaseUrl_IsRemoved', () => {
  assert.equal(parseConfig({ BASE_URL: 'http://127.0.0.1:9000/' }).baseUrl, 'http://127.0.0.1:9000');
});

test('parseDurationSeconds_CompoundAndBadInput_ParsesOrNaN', () => {
  assert.equal(parseDurationSeconds('1m30s'), 90);
  assert.equal(parseDurationSeconds('1500ms'), 1.5);
  assert.ok(Number.isNaN(parseDurationSeconds('90')));
  assert.ok(Number.isNaN(parseDurationSeconds('')));
});

test('buildScenario_EachScenarioName_GivesTheMatchingK6Executor', () => {
  for (const name of SCENARIOS) {
    const s = buildScenario(parseConfig({ SCENARIO: name, DURATION: '100s', RATE: '0.5', VUS: '3' }));
    assert.equal(s.executor, name);
    assert.equal(s.exec, 'default');
    if (name === 'constant-vus') {
      assert.equal(s.vus, 3);
      assert.equal(s.duration, '100s');
    } else {
      // 0.5 requests per second is 30 per minute: fractional rates must survive.
      assert.equal(s.timeUnit, '1m');
      assert.ok(s.maxVUs >= s.preAllocatedVUs);
    }
    if (name === 'constant-arrival-rate') assert.equal(s.rate, 30);
    if (name === 'ramping-arrival-rate') {
      assert.equal(Math.max(...s.stages.map((st) => st.target)), 30);
      const total = s.stages.reduce((sum, st) => sum + parseDurationSeconds(st.duration), 0);
      assert.equal(total, 100);
    }
  }
});

test('buildOptions_DefaultSettings_ThresholdsFailOnAnyErrorAndSlowP95', () => {
  const c = parseConfig({ P95_MS: '1234' });
  const o = buildOptions(c, { streaming: false });
  assert.deepEqual(o.thresholds.http_req_failed, ['rate==0']);
  assert.deepEqual(o.thresholds.http_req_duration, ['p(95)<1234']);
  assert.deepEqual(o.thresholds.checks, ['rate==1']);
  assert.equal(o.thresholds.stream_time_to_first_byte, undefined);
  assert.equal(Object.keys(o.scenarios).length, 1);
});

test('buildOptions_StreamingArrivalRate_AddsTtfbAndDroppedIterationThresholds', () => {
  const o = buildOptions(parseConfig({ SCENARIO: 'constant-arrival-rate', TTFB_P95_MS: '500' }), { streaming: true });
  assert.deepEqual(o.thresholds.stream_time_to_first_byte, ['p(95)<500']);
  assert.deepEqual(o.thresholds.dropped_iterations, ['count==0']);
});
