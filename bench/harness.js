// Timing helpers shared by the benchmark suites, and the suite contract (see bench/README.md).
//
// Timings on shared machines are noisy, so every figure is the median of several samples, each
// long enough to dwarf the timer, and every comparison is made between variants measured side by
// side, interleaved round by round, in the same run. Every sample taken is also recorded here
// (takeTimings), so that bench/index.js can state the spread of every figure and the spread of
// every ratio (paired round by round) without the suites having to carry it.
'use strict';

function now() {
  return Number(process.hrtime.bigint()) / 1e9;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** { n, min, median, max } of a list of numbers. */
function stats(xs) {
  return { n: xs.length, min: Math.min(...xs), median: median(xs), max: Math.max(...xs) };
}

// Every variant timed since the last takeTimings(): name -> { rounds: [median s/call of each
// round], samples: [s/call of every sample] }.
let recorded = new Map();

function record(name, samples) {
  if (!recorded.has(name)) recorded.set(name, { rounds: [], samples: [] });
  const r = recorded.get(name);
  r.rounds.push(median(samples));
  r.samples.push(...samples);
}

/**
 * The timings recorded since the last call, and forgets them: { [variant]: { rounds (each
 * round's median), n (samples), min, median, max } } in seconds per call. bench/index.js calls it when a suite reports a row
 * (onRow), so a row carries the timings of the variants measured for it.
 */
function takeTimings() {
  const out = {};
  for (const [name, r] of recorded) out[name] = { rounds: r.rounds, ...stats(r.samples) };
  recorded = new Map();
  return out;
}

// Calls per sample so that one sample lasts about minTime / 4 or more.
function calibrate(fn, minTime, cap) {
  fn();
  let calls = 1;
  for (;;) {
    const t0 = now();
    for (let i = 0; i < calls; i++) fn();
    if (now() - t0 >= minTime / 4 || calls > cap) return calls;
    calls *= 4;
  }
}

/** `reps` samples of fn() (synchronous), seconds per call each. */
function samplesOf(fn, { minTime = 0.05, reps = 7 } = {}) {
  const calls = calibrate(fn, minTime, 1e7);
  const samples = [];
  for (let r = 0; r < reps; r++) {
    const t0 = now();
    for (let i = 0; i < calls; i++) fn();
    samples.push((now() - t0) / calls);
  }
  return samples;
}

/** `reps` samples of an async fn (awaited one call at a time), seconds per call each. */
async function samplesOfAsync(fn, { minTime = 0.05, reps = 7 } = {}) {
  await fn();
  let calls = 1;
  for (;;) {
    const t0 = now();
    for (let i = 0; i < calls; i++) await fn();
    if (now() - t0 >= minTime / 4 || calls > 1e6) break;
    calls *= 4;
  }
  const samples = [];
  for (let r = 0; r < reps; r++) {
    const t0 = now();
    for (let i = 0; i < calls; i++) await fn();
    samples.push((now() - t0) / calls);
  }
  return samples;
}

/** Times fn() alone: the median of `reps` samples, seconds per call (not recorded). */
function timeIt(fn, opts) {
  return median(samplesOf(fn, opts));
}

/** timeIt for an async fn. */
async function timeAsync(fn, opts) {
  return median(await samplesOfAsync(fn, opts));
}

/**
 * Measures variants [{ name, fn, before?, after? }] interleaved: `rounds` rounds, each variant in
 * turn, `reps` samples each per round, so drift in machine load hits all alike. Returns Map
 * name -> median seconds per call over all samples; every sample is recorded (takeTimings).
 */
function compare(variants, opts = {}) {
  const rounds = opts.rounds ?? 3;
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) {
      if (v.before) v.before();
      const s = samplesOf(v.fn, opts);
      if (v.after) v.after();
      record(v.name, s);
    }
  }
  return medians(variants);
}

/**
 * Like compare(), for variants whose fn may be async ({ async: true }: awaited one call at a
 * time) or timed out of process ({ external: async ({ minTime, reps }) => samples in s/call },
 * e.g. PyTorch in bench/torch.js, which times itself so the pipe is not in its figure).
 */
async function compareAsync(variants, opts = {}) {
  const rounds = opts.rounds ?? 3;
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) {
      if (v.before) v.before();
      const s = v.external ? await v.external({ minTime: opts.minTime ?? 0.05, reps: opts.reps ?? 7 })
        : v.async ? await samplesOfAsync(v.fn, opts) : samplesOf(v.fn, opts);
      if (v.after) v.after();
      record(v.name, s);
    }
  }
  return medians(variants);
}

function medians(variants) {
  return new Map(variants.map((v) => [v.name, median(recorded.get(v.name).samples)]));
}

/**
 * The ratio time(base) / time(variant) (how many times faster `variant` is) of two variants of one
 * row's timings, paired round by round (both measured in the same round): { n, min, median, max }
 * over the rounds, or null when either is missing.
 */
function pairedRatio(timing, variant, base) {
  const a = timing && timing[variant];
  const b = timing && timing[base];
  if (!a || !b) return null;
  const n = Math.min(a.rounds.length, b.rounds.length);
  const r = [];
  for (let i = 0; i < n; i++) r.push(b.rounds[i] / a.rounds[i]);
  return n ? stats(r) : null;
}

/** Text width every line of the bench's output keeps to. */
const WIDTH = 100;

/**
 * Formats a table of rows (arrays of cells) with aligned columns; columns whose cells are all
 * empty ('-', undefined) are left out. A table wider than WIDTH is split into several tables
 * stacked, each repeating the first column (the row's name).
 */
function table(header, rows, width = WIDTH) {
  let all = [header, ...rows].map((r) => r.map((c) => (c === undefined || c === null ? '-' : String(c))));
  // a column with nothing in it (a peer not installed, a variant this mode skips) is left out
  const keep = header.map((_, i) => i === 0 || rows.length === 0 || all.slice(1).some((r) => r[i] !== '-' && r[i] !== ''));
  all = all.map((r) => r.filter((_, i) => keep[i]));
  header = all[0];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const groups = [];
  let cur = [];
  let used = widths[0];
  for (let i = 1; i < widths.length; i++) {
    if (cur.length && used + 2 + widths[i] > width) {
      groups.push(cur);
      cur = [];
      used = widths[0];
    }
    cur.push(i);
    used += 2 + widths[i];
  }
  if (cur.length || groups.length === 0) groups.push(cur);
  return groups.map((cols) => {
    const idx = [0, ...cols];
    const fmt = (r) => idx.map((i) => (i === 0 ? r[i].padEnd(widths[i]) : r[i].padStart(widths[i]))).join('  ').trimEnd();
    return [fmt(all[0]), idx.map((i) => '-'.repeat(widths[i])).join('  '), ...all.slice(1).map(fmt)].join('\n');
  }).join('\n\n');
}

/** Word-wraps every line of `text` longer than `width` (tables from table() already fit). */
function wrap(text, width = WIDTH) {
  const out = [];
  for (const line of String(text).split('\n')) {
    if (line.length <= width) {
      out.push(line);
      continue;
    }
    const indent = (/^\s*/.exec(line) || [''])[0];
    let cur = '';
    for (const word of line.trim().split(/\s+/)) {
      if (cur && (cur + ' ' + word).length > width) {
        out.push(cur);
        cur = indent + '  ' + word;
      } else cur = cur ? cur + ' ' + word : indent + word;
    }
    if (cur) out.push(cur);
  }
  return out.join('\n');
}

module.exports = { now, median, stats, timeIt, timeAsync, compare, compareAsync, takeTimings, pairedRatio, table, wrap, WIDTH };
