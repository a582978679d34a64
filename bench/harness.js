// Timing helpers shared by the benchmark suites. Timings on shared machines are noisy, so every
// figure is the median of several repetitions, each long enough to dwarf the timer, and every
// comparison is made between variants measured side by side, interleaved, in the same run.
'use strict';

function now() {
  return Number(process.hrtime.bigint()) / 1e9;
}

/**
 * Times fn() (which does `work` units of work per call): calibrates the number of calls to fill
 * `minTime` seconds, then takes the median of `reps` repetitions. Returns seconds per call.
 */
function timeIt(fn, { minTime = 0.05, reps = 7 } = {}) {
  fn();
  let calls = 1;
  for (;;) {
    const t0 = now();
    for (let i = 0; i < calls; i++) fn();
    const dt = now() - t0;
    if (dt >= minTime / 4 || calls > 1e7) break;
    calls *= 4;
  }
  const samples = [];
  for (let r = 0; r < reps; r++) {
    const t0 = now();
    for (let i = 0; i < calls; i++) fn();
    samples.push((now() - t0) / calls);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

/** Measures several variants interleaved (round robin), so drift in machine load hits all alike. */
function compare(variants, opts = {}) {
  const rounds = opts.rounds ?? 3;
  const best = new Map(variants.map((v) => [v.name, Infinity]));
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) {
      if (v.before) v.before();
      const t = timeIt(v.fn, opts);
      if (v.after) v.after();
      best.set(v.name, Math.min(best.get(v.name), t));
    }
  }
  return best;
}

/** Formats a table of rows (arrays of cells) with aligned columns. */
function table(header, rows) {
  const all = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const fmt = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [fmt(all[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...all.slice(1).map(fmt)].join('\n');
}

module.exports = { now, timeIt, compare, table };

/** timeIt for an async fn (awaited one call at a time). Returns seconds per call. */
async function timeAsync(fn, { minTime = 0.05, reps = 7 } = {}) {
  await fn();
  let calls = 1;
  for (;;) {
    const t0 = now();
    for (let i = 0; i < calls; i++) await fn();
    const dt = now() - t0;
    if (dt >= minTime / 4 || calls > 1e6) break;
    calls *= 4;
  }
  const samples = [];
  for (let r = 0; r < reps; r++) {
    const t0 = now();
    for (let i = 0; i < calls; i++) await fn();
    samples.push((now() - t0) / calls);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

module.exports.timeAsync = timeAsync;

/**
 * Like compare(), for variants whose fn may be async (returns a Promise): rounds of every variant
 * in turn, keeping each variant's best median. Returns Map name -> seconds per call.
 */
async function compareAsync(variants, opts = {}) {
  const rounds = opts.rounds ?? 3;
  const best = new Map(variants.map((v) => [v.name, Infinity]));
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) {
      const t = v.async ? await timeAsync(v.fn, opts) : timeIt(v.fn, opts);
      best.set(v.name, Math.min(best.get(v.name), t));
    }
  }
  return best;
}

module.exports.compareAsync = compareAsync;
