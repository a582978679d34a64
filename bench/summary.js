// The bench's summary: per kernel family, lowbit against each peer (and its own baselines)
// measured in this run, as ratios of times paired round by round, with their spread. The pairs
// come from each suite's `summary` export (bench/README.md).
'use strict';
const harness = require('./harness');

const { table, wrap } = harness;

const fx = (v) => (v >= 10 ? v.toFixed(1) : v.toFixed(2)) + 'x';
const geomean = (xs) => Math.exp(xs.reduce((a, b) => a + Math.log(b), 0) / xs.length);

/**
 * The summary lines: for every pair a suite declares ({ family, variant, base, vs, peer }),
 * over the rows whose timings hold both: the geometric mean over cases of each case's median
 * ratio (paired by round), and the range of every round's ratio of every case.
 */
function summarize(suites, results) {
  const lines = [];
  const name = (v, r) => (typeof v === 'function' ? v(r) : v);
  for (const suite of suites) {
    const rows = results.suites[suite.name];
    if (!rows || !suite.summary) continue;
    const caseName = suite.summary.caseName || ((r) => String(Object.values(r)[0]));
    for (const p of suite.summary.pairs) {
      const perCase = rows.filter((r) => !p.where || p.where(r))
        .map((r) => ({ case: caseName(r), ...harness.pairedRatio(r.timing, name(p.variant, r), name(p.base, r)) }))
        .filter((c) => c.n > 0);
      const peer = p.peer ? results.peers[p.peer] : null;
      const vs = peer ? `${peer.short} ${p.vs}` : p.vs;
      const line = { suite: suite.name, family: p.family, lowbit: p.lowbit, vs, peer: p.peer || null };
      if (perCase.length === 0) {
        // a peer that is not installed is said so once per family; a baseline without rows
        // (a suite that skipped it in --quick) is left out
        const key = p.family + '|' + p.peer;
        if (p.peer && !(peer && peer.version) && !lines.some((l) => l.key === key)) {
          lines.push({ ...line, key, vs: peer ? peer.label : p.peer, missing: `not installed (${peer ? peer.install : 'unknown peer'})` });
        }
        continue;
      }
      lines.push({
        ...line, perCase,
        ratio: geomean(perCase.map((c) => c.median)),
        min: Math.min(...perCase.map((c) => c.min)), max: Math.max(...perCase.map((c) => c.max)),
        cases: perCase.length, rounds: Math.min(...perCase.map((c) => c.n)),
      });
    }
  }
  return lines;
}

/** The summary as text, every line within 100 columns. peers: results.peers (names, versions). */
function formatSummary(lines, peers = {}) {
  const vsPeers = lines.filter((l) => l.peer);
  const vsSelf = lines.filter((l) => !l.peer);
  const rowsOf = (ls) => ls.filter((l) => !l.missing).map((l) => [l.family, l.lowbit, l.vs, fx(l.ratio), `${fx(l.min)}..${fx(l.max)}`, `${l.cases}x${l.rounds}`]);
  const head = ['kernel family', 'lowbit', 'against', 'speed', 'range', 'cases'];
  const named = Object.values(peers).filter((p) => p.version).map((p) => `${p.short} = ${p.label} ${p.version}`);
  let s = '';
  if (vsPeers.length) {
    s += wrap(`lowbit against the peers, measured now${named.length ? ' (' + named.join(', ') + ')' : ''}; ` +
      'speed: how many times faster lowbit is') + '\n';
    if (rowsOf(vsPeers).length) s += table(head, rowsOf(vsPeers)) + '\n';
    for (const l of vsPeers.filter((x) => x.missing)) s += wrap(`${l.family}: ${l.vs} ${l.missing}`) + '\n';
  }
  if (vsSelf.length) s += '\nlowbit against its own baselines, measured now\n' + table(head, rowsOf(vsSelf)) + '\n';
  s += wrap('speed: geometric mean over the cases of each case\'s median ratio of times, the two measured in turn ' +
    'in each round; range: lowest and highest ratio of any round of any case; cases: cases x rounds each.');
  return s;
}

module.exports = { summarize, formatSummary, fx };
