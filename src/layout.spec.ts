import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, normalize, relative, sep } from 'node:path';

/** The layout in docs (README's layout section): each folder of src/ imports only folders before it here. */
const LAYERS = [
  ['config'],
  ['common'],
  ['database'],
  ['logging'],
  ['auth'],
  ['metrics'],
  ['registry'],
  ['events'],
  ['scheduler'],
  ['health', 'service-discovery', 'dashboard'],
  // The committed schema history: every module's tables, and the rules a backfill rewrites stored rows with.
  ['migrations'],
];

const ROOT = join(__dirname, '..');
const SRC = join(ROOT, 'src');
const MAX_LINES = 300;

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** TypeScript sources under src/, specs left out (a test may compose anything). */
const SOURCES = filesUnder(SRC)
  .filter((path) => path.endsWith('.ts') && !path.endsWith('.spec.ts'))
  .map((path) => relative(SRC, path));

/** The relative imports of a source file (types too: a type import still ties the files), as paths under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  return [...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom '(\.[^']+)'/gms)].map(([, target]) =>
    relative(SRC, normalize(join(SRC, file, '..', target))),
  );
}

/** `folder -> folder` for every import between two top-level folders of src/ (a file at the top counts as `.`). */
function folderEdges(): Map<string, Set<string>> {
  const edges = new Map<string, Set<string>>();
  for (const file of SOURCES) {
    const from = file.includes(sep) ? file.split(sep)[0] : '.';
    if (from === '.') continue; // The composition (app.module.ts, main.ts, ...) imports everything.
    for (const target of importsOf(file)) {
      if (target.startsWith('..')) continue; // Outside src/ (mikro-orm.config.ts).
      const to = target.includes(sep) ? target.split(sep)[0] : '.';
      if (to !== from) edges.set(from, (edges.get(from) ?? new Set()).add(to));
    }
  }
  return edges;
}

const layerOf = (folder: string) => LAYERS.findIndex((layer) => layer.includes(folder));

describe('Layout of src/', () => {
  const edges = folderEdges();

  it('has no import cycle between its top-level folders', () => {
    const cycles = new Set<string>();
    const visit = (folder: string, path: string[]): void => {
      if (path.includes(folder)) {
        const cycle = path.slice(path.indexOf(folder));
        // One spelling per cycle: from its alphabetically first folder.
        const start = cycle.indexOf([...cycle].sort()[0]);
        cycles.add([...cycle.slice(start), ...cycle.slice(0, start), cycle[start]].join(' -> '));
        return;
      }
      for (const target of edges.get(folder) ?? []) {
        visit(target, [...path, folder]);
      }
    };
    for (const folder of edges.keys()) visit(folder, []);
    expect([...cycles]).toEqual([]);
  });

  it('keeps the layer order: a folder imports only folders below it, never the composition', () => {
    const against = [...edges].flatMap(([from, targets]) =>
      [...targets]
        .filter((to) => to === '.' || layerOf(to) < 0 || layerOf(to) >= layerOf(from))
        .map((to) => `${from} -> ${to}`),
    );
    expect(against.sort()).toEqual([]);
  });

  it('imports nothing from outside src/ (mikro-orm.config.ts composes src/, not the other way round)', () => {
    const outside = SOURCES.flatMap((file) =>
      importsOf(file)
        .filter((target) => target.startsWith('..'))
        .map((target) => `${file} -> ${target}`),
    );
    expect(outside).toEqual([]);
  });

  it('has every folder in a layer', () => {
    const folders = readdirSync(SRC).filter((name) => statSync(join(SRC, name)).isDirectory());
    expect(folders.filter((folder) => layerOf(folder) < 0)).toEqual([]);
  });

  it('keeps config/ and common/ importing no folder but config/', () => {
    const outside = (folder: string) => [...(edges.get(folder) ?? [])].filter((to) => to !== 'config');
    expect(outside('config')).toEqual([]);
    expect(outside('common')).toEqual([]);
  });

  it(`has no hand-written source file over ${MAX_LINES} lines`, () => {
    const files = [
      // Migrations are generated, then frozen.
      ...SOURCES.filter((file) => !file.split(sep).includes('migrations')).map((file) => join('src', file)),
      ...filesUnder(join(ROOT, 'test', 'support')).map((path) => relative(ROOT, path)),
      ...filesUnder(join(ROOT, 'packages', 'client', 'src'))
        .map((path) => relative(ROOT, path))
        // Generated from the OpenAPI document (npm run client:types).
        .filter((file) => file !== join('packages', 'client', 'src', 'openapi.ts')),
    ].filter((file) => file.endsWith('.ts') && !file.endsWith('.spec.ts'));
    const lines = (file: string) => readFileSync(join(ROOT, file), 'utf8').split('\n').length - 1;
    const oversized = files.filter((file) => lines(file) > MAX_LINES);
    expect(oversized.map((file) => `${file}: ${lines(file)}`)).toEqual([]);
  });

  it('auth/ files import each other without a cycle', () => {
    const files = SOURCES.filter((file) => file.startsWith(`auth${sep}`)).map((file) => file.replace(/\.ts$/, ''));
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
