// Entry point of one hostile case, run by the jest runner as `node --expose-gc child.js <case id>`
// in a process of its own. Prints one RESULT_MARK line of JSON, then lets the process end by
// itself (a process that does not exit after its result is reported as a hang).
import { caseById } from './cases';
import { CaseResult, RESULT_MARK, describeError } from './common';
import { runAlloc } from './run-alloc';
import { runClassic } from './run-classic';
import { runDefect } from './run-defects';
import { runDeserialize } from './run-deserialize';
import { runDetach } from './run-detach';
import { runMapped } from './run-mapped';
import { runSab } from './run-sab';
import { runWorkerEnd } from './run-worker-end';

async function main(): Promise<void> {
  const c = caseById(process.argv[2]);
  const res: CaseResult = { violations: [], notes: {} };
  try {
    switch (c.cls) {
      case 'sab': await runSab(c, res); break;
      case 'detach': await runDetach(c, res); break;
      case 'worker-end': await runWorkerEnd(c, res); break;
      case 'mapped': await runMapped(c, res); break;
      case 'alloc': await runAlloc(c, res); break;
      case 'deserialize': await runDeserialize(c, res); break;
      case 'classic': await runClassic(c, res); break;
      case 'defects': await runDefect(c, res); break;
    }
  } catch (e) {
    res.violations.push(`case threw outside a checked call: ${describeError(e)}${(e as Error)?.stack ? ` at ${(e as Error).stack!.split('\n').slice(1, 3).join(' ').trim()}` : ''}`);
  }
  process.stdout.write(RESULT_MARK + JSON.stringify(res) + '\n');
}

process.on('unhandledRejection', (e) => {
  process.stdout.write(RESULT_MARK + JSON.stringify({ violations: [`unhandled rejection: ${describeError(e)}`], notes: {} }) + '\n');
  process.exitCode = 1;
});

void main();
