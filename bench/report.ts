import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './harness';

const FILE = join(ROOT, 'docs', 'benchmarks.md');
const HEADER = `# Benchmarks

Written by \`npm run bench\` (the first and last sections; \`--lists\` runs the last alone; \`--tuned\` the second), and
\`npm run bench -- --scale\` (the third and fifth on SQLite, the fourth and sixth with \`--database=postgresql://…\`); each run replaces its own sections. The load generator (autocannon) runs on the same machine as the servers and competes with them for
CPU: compare the ratios measured in one run, not the absolute numbers.
`;

/** A markdown table. */
export function table(head: string[], rows: (string | number)[][], align: ('l' | 'r')[]): string {
  return [
    `| ${head.join(' | ')} |`,
    `| ${align.map((a) => (a === 'r' ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
}

const SECTIONS = [
  'standard',
  'standard-tuned',
  'scale',
  'scale-postgresql',
  'scale-grace',
  'scale-grace-postgresql',
  'lists',
] as const;
export type Section = (typeof SECTIONS)[number];

/** Replaces one section of docs/benchmarks.md (between its markers), keeping the others and any notes after them. */
export function writeSection(name: Section, text: string): void {
  const begin = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const block = `${begin}\n${text.trim()}\n${end}`;
  const current = existsSync(FILE) ? readFileSync(FILE, 'utf8') : '';
  const sections = SECTIONS.map((section) => {
    if (section === name) return block;
    const match = new RegExp(`<!-- bench:${section} -->[\\s\\S]*?<!-- /bench:${section} -->`).exec(current);
    return match?.[0] ?? `<!-- bench:${section} -->\n_Not run yet._\n<!-- /bench:${section} -->`;
  });
  // The notes are whatever follows the last section's end marker.
  const lastEnd = Math.max(
    ...SECTIONS.map((section) => {
      const marker = `<!-- /bench:${section} -->`;
      const at = current.lastIndexOf(marker);
      return at < 0 ? -1 : at + marker.length;
    }),
  );
  const notes = lastEnd < 0 ? undefined : current.slice(lastEnd).trim();
  mkdirSync(join(ROOT, 'docs'), { recursive: true });
  writeFileSync(FILE, `${HEADER}\n${sections.join('\n\n')}\n${notes ? `\n${notes}\n` : ''}`);
  console.log(`Written to docs/benchmarks.md (${name} section)`);
}
