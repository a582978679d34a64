'use strict';
/**
 * This process's memory, from /proc/self/smaps (Linux): resident set size, and for the mappings
 * of the model's table files, how much is resident and how much of it is shared with other
 * processes (PSS: a page shared by k processes counts 1/k). Elsewhere: RSS only.
 */
const fs = require('node:fs');
const path = require('node:path');

/** { rssBytes, tables: { files, rssBytes, pssBytes, sharedBytes } | null } for files under `dir`. */
function memoryReport(dir) {
  const out = { rssBytes: process.memoryUsage.rss(), tables: null };
  let text;
  try {
    text = fs.readFileSync('/proc/self/smaps', 'utf8');
  } catch {
    return out;
  }
  const prefix = path.resolve(dir) + path.sep;
  const t = { files: 0, rssBytes: 0, pssBytes: 0, sharedBytes: 0 };
  let inTable = false;
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      inTable = head[1].startsWith(prefix) && head[1].includes(`${path.sep}tables${path.sep}`);
      if (inTable) t.files++;
      continue;
    }
    if (!inTable) continue;
    const kv = /^(Rss|Pss|Shared_Clean|Shared_Dirty):\s+(\d+) kB/.exec(line);
    if (!kv) continue;
    const bytes = Number(kv[2]) * 1024;
    if (kv[1] === 'Rss') t.rssBytes += bytes;
    else if (kv[1] === 'Pss') t.pssBytes += bytes;
    else t.sharedBytes += bytes;
  }
  out.tables = t;
  return out;
}

module.exports = { memoryReport };
