/**
 * The `lemma` command line, on commander. One file per command under commands/; shared option
 * parsers and the Ctrl-C helper in shared.ts; the progress bar in progress.ts.
 *   lemma info [--json]
 *   lemma bench [--quick] [--only F,G] [--out DIR] [--json]   (the quick suite: npm start)
 *   lemma bench <family> [--full] [--threads N] [--out FILE] [--no-progress]
 *   lemma attention --q q.npy --k k.npy --v v.npy [--out out.npy] [--lse lse.npy] [--causal] ...
 *   lemma subleq run <program.asm> [--steps N] [--trace every|end] [--json]
 *   lemma sample (--polytope p.json | --A A.npy --b b.npy) [--chains C] [--steps N] [--out f.npy|f.csv]
 *   lemma game machine-penalty [--per-condition N] [--seed S] [--json] [--out DIR]
 *   lemma kde build|query|release ...   (private L1 KDE: commands/kde.ts)
 *   lemma loop certify|enumerate ...    (looped-network fixed points: commands/loop.ts)
 * Exit codes: 0 ok, 1 runtime failure, 2 usage, 130 interrupted (see EXIT_CODES_HELP).
 * The native addon is loaded only by the commands that need it (each imports the library inside
 * its action), so `lemma game` and every --help run on pure TypeScript.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EXIT, UsageError, isAbortError } from './shared.js';
import type { Command, Commander } from './shared.js';
import { registerInfo } from './commands/info.js';
import { registerBench } from './commands/bench.js';
import { registerAttention } from './commands/attention.js';
import { registerSubleq } from './commands/subleq.js';
import { registerGame } from './commands/game.js';
import { registerSample } from './commands/sample.js';
import { registerKde } from './commands/kde.js';
import { registerLoop } from './commands/loop.js';

export const EXIT_CODES_HELP = `
Exit codes:
  0    success (also --help and --version)
  1    runtime failure: "lemma: <code>: <message>" on stderr (a LemmaError's code such as
       ERR_SHAPE, or a system error code such as ENOENT)
  2    usage error: unknown command or option, missing or bad value (the usage follows on stderr)
  130  interrupted by Ctrl-C (SIGINT): the native work stops at its next task; a second Ctrl-C
       exits at once`;

/** lemma's version, from the package.json above this file (lib/cli or dist/lib/cli). */
function packageVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(__dirname, rel), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'lemma' && pkg.version) return pkg.version;
    } catch {
      // not at this depth
    }
  }
  return 'unknown';
}

/** Builds the `lemma` program (no parsing, nothing loaded but commander). */
export function buildProgram(cm: Commander): Command {
  const version = packageVersion();
  const program = new cm.Command('lemma');
  // Settings set here are inherited by every command created below.
  program
    .description('lemma: fast, tested attention, sampling and privacy operations (a TypeScript API over a C++ core with CUDA kernels)')
    .exitOverride()
    .enablePositionalOptions()  // options after a command name are that command's (lemma bench [opts] vs lemma bench attention [opts])
    .showHelpAfterError()
    .showSuggestionAfterError()
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'print this help')
    .addHelpText('after', EXIT_CODES_HELP);
  registerInfo(program);
  registerBench(program, cm);
  registerAttention(program, cm);
  registerSubleq(program, cm);
  registerSample(program, cm);
  registerKde(program, cm);
  registerLoop(program, cm);
  registerGame(program, cm);
  // --version on every command too (commander puts it on the root only).
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const c of all(program).slice(1)) c.version(version, '-V, --version', 'print the version');
  return program;
}

/** Runtime errors: one line, with the code when the error has one. */
function failure(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return typeof code === 'string' && !e.message.startsWith(`${code}:`) ? `lemma: ${code}: ${e.message}` : `lemma: ${e.message}`;
  }
  return `lemma: ${String(e)}`;
}

/**
 * Runs `lemma` with `argv` (without node and the script) and resolves with the exit code:
 * 0 ok, 1 runtime failure, 2 usage error, 130 interrupted.
 */
export async function main(argv: string[]): Promise<number> {
  const cm = await import('commander');
  const program = buildProgram(cm);
  let current: Command = program;
  program.hook('preAction', (_root, action) => {
    current = action;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (e) {
    if (e instanceof cm.CommanderError) {
      // Help and version exit 0; every parse error (commander already printed it and the usage) is a usage error.
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`lemma: ${e.message}\n\n`);
      current.outputHelp({ error: true });
      return EXIT.usage;
    }
    if (isAbortError(e)) {
      process.stderr.write('lemma: interrupted\n');
      return EXIT.interrupted;
    }
    process.stderr.write(failure(e) + '\n');
    if (process.env.LEMMA_DEBUG && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
    return EXIT.failure;
  }
}
