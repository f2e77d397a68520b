/**
 * The public types: test/types/usage.ts (README-style usage, `using` included) must compile
 * under the project's compiler settings (test/types/tsconfig.json extends the root one). Tests
 * run through tsx, which strips types without checking them, so this runs the compiler.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.join(__dirname, '..');

test('test/types/usage.ts type-checks (using on stateful objects, dtypes carried through)', (t) => {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'test', 'types')], { encoding: 'utf8', cwd: root, timeout: 240_000 });
  t.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
});
