// `npm run build`: the CommonJS build (the client, keys-file and the CLI) and the ESM build (the client and keys-file),
// each with its declarations. The package is "type": "module", so dist/cjs gets a package.json saying its .js files
// are CommonJS.
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, URL } from 'node:url';
import process from 'node:process';

const root = new URL('..', import.meta.url);
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
rmSync(new URL('dist', root), { recursive: true, force: true });
for (const project of ['tsconfig.cjs.json', 'tsconfig.esm.json']) {
  execFileSync(process.execPath, [tsc, '-p', fileURLToPath(new URL(project, root))], { stdio: 'inherit' });
}
writeFileSync(new URL('dist/cjs/package.json', root), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);
