import { readdirSync, readFileSync } from 'node:fs';
import { join, normalize, relative } from 'node:path';

const SRC = join(__dirname, '..');

/** The relative imports of a source file (types too: a type import still ties the files), as paths under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  return [...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom '(\.[^']+)'/gms)].map(([, target]) =>
    relative(SRC, normalize(join(SRC, file, '..', target))),
  );
}

function sourcesIn(folder: string): string[] {
  return readdirSync(join(SRC, folder))
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.spec.ts'))
    .map((name) => join(folder, name));
}

describe('Layers', () => {
  it('common/ knows no limit of the auth feature: a 429 carries its own Retry-After', () => {
    const authImports = sourcesIn('common').flatMap((file) =>
      importsOf(file)
        .filter((target) => target.startsWith('auth/'))
        .map((target) => `${file} -> ${target}`),
    );
    expect(authImports).toEqual([]);
  });

  it('auth/ files import each other without a cycle', () => {
    const files = sourcesIn('auth').map((file) => file.replace(/\.ts$/, ''));
    const within = new Map(files.map((file) => [file, importsOf(`${file}.ts`).filter((t) => files.includes(t))]));
    const cycles = new Set<string>();
    const visit = (file: string, path: string[]): void => {
      if (path.includes(file)) {
        cycles.add([...path.slice(path.indexOf(file)), file].join(' -> '));
        return;
      }
      for (const target of within.get(file) ?? []) visit(target, [...path, file]);
    };
    for (const file of files) visit(file, []);
    expect([...cycles]).toEqual([]);
  });
});
