import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './harness';

const FILE = join(ROOT, 'docs', 'benchmarks.md');
const HEADER = `# Benchmarks

Written by \`npm run bench\` (the first section) and \`npm run bench -- --scale\` (the second); each run replaces its
own section. The load generator (autocannon) runs on the same machine as the servers and competes with them for
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

/** Replaces one section of docs/benchmarks.md (between its markers), keeping the other and any notes after both. */
export function writeSection(name: 'standard' | 'scale', text: string): void {
  const begin = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const block = `${begin}\n${text.trim()}\n${end}`;
  const current = existsSync(FILE) ? readFileSync(FILE, 'utf8') : '';
  const sections = (['standard', 'scale'] as const).map((section) => {
    if (section === name) return block;
    const match = new RegExp(`<!-- bench:${section} -->[\\s\\S]*?<!-- /bench:${section} -->`).exec(current);
    return match?.[0] ?? `<!-- bench:${section} -->\n_Not run yet._\n<!-- /bench:${section} -->`;
  });
  const notes = current.split('<!-- /bench:scale -->')[1]?.trim();
  mkdirSync(join(ROOT, 'docs'), { recursive: true });
  writeFileSync(FILE, `${HEADER}\n${sections.join('\n\n')}\n${notes ? `\n${notes}\n` : ''}`);
  console.log(`Written to docs/benchmarks.md (${name} section)`);
}
