import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

/**
 * The README's examples as test/examples.e2e-spec.ts reads them, and how what a command printed is compared with what
 * the README shows under it.
 */

export const README = join(__dirname, '..', '..', 'README.md');

/** A fenced code block of the README, under the heading it belongs to. */
export interface CodeBlock {
  lang: string;
  heading: string;
  code: string;
  /** The README's text between the previous block (or heading) and this one. */
  prose: string;
}

export function readmeBlocks(text = readFileSync(README, 'utf8')): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  let heading = '';
  let prose: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w*)\s*$/.exec(lines[i]);
    if (!fence) {
      const title = /^#+ (.*)$/.exec(lines[i]);
      if (title) {
        heading = title[1];
        prose = [];
      } else prose.push(lines[i]);
      continue;
    }
    const code: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) code.push(lines[i]);
    blocks.push({ lang: fence[1], heading, code: code.join('\n'), prose: prose.join('\n') });
    prose = [];
  }
  return blocks;
}

/** A shell command of an example, and the lines the README shows it prints (the `#` lines right under it). */
export interface ShellExample {
  command: string;
  shown: string[];
}

/**
 * A shell block's commands in order: a command runs until bash finds it complete (continued lines, a quoted body
 * over several lines, a loop); the `#` lines right under it are its output; other `#` lines, after a blank line or
 * before any command, describe what follows.
 */
export function shellExamples(code: string): ShellExample[] {
  const lines = code.split('\n');
  const examples: ShellExample[] = [];
  let i = 0;
  while (i < lines.length) {
    if (lines[i].trim() === '' || lines[i].startsWith('#')) {
      i++;
      continue;
    }
    let command = lines[i++];
    while (!isComplete(command)) {
      if (i >= lines.length) throw new Error(`README example does not end: ${command}`);
      command += `\n${lines[i++]}`;
    }
    const shown: string[] = [];
    while (i < lines.length && lines[i].startsWith('#')) shown.push(lines[i++].replace(/^# ?/, ''));
    examples.push({ command, shown });
  }
  return examples;
}

function isComplete(command: string): boolean {
  return !command.endsWith('\\') && spawnSync('bash', ['-n'], { input: command }).status === 0;
}

/** What the README writes for "anything here". */
export const WILDCARD = '…';
/** A `…` member of an object or item of an array, once parsed: the object or array may hold more. */
const REST = '\u2026rest';
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
/**
 * Header and Server-Sent Event fields whose values the server sets: shown by example, matched as integers or as
 * positions (`<revision>.<fingerprint>`), as shown.
 */
const SERVER_SET_FIELDS = new Set(['x-registry-revision', 'x-registry-position', 'id']);
/** A position as the server writes it, and as the README shows one. */
const POSITION = /^\d+\.[0-9a-f]{8}$/;
/** JSON members the server sets (besides times, which match as times): shown by example, matched as integers. */
const SERVER_SET_MEMBERS = new Set(['revision']);

/**
 * Server-set values as the README shows them, bound to what the server answered: a later command that reuses one
 * (`since=42` after `X-Registry-Revision: 42`) is run with the server's value, as a user would copy it.
 */
export type Bindings = Map<string, string>;

export function substitute(text: string, bindings: Bindings): string {
  let result = text;
  // Longest first: a position (`42.9f3ab2c1`) before the revision it starts with (`42`).
  const longestFirst = [...bindings].sort(([a], [b]) => b.length - a.length);
  for (const [shown, actual] of longestFirst) {
    result = result.replace(new RegExp(`\\b${shown.replace('.', '\\.')}\\b`, 'g'), actual);
  }
  return result;
}

/** The statuses the README shows for a command: a problem document's `status`, or the status line of `curl -i`. */
export function shownStatuses(shown: string[]): number[] {
  const json = parsePattern(shown.join(''));
  if (isObject(json) && typeof json.status === 'number' && typeof json.title === 'string') return [json.status];
  return shown.flatMap((line) => {
    const status = /^HTTP\/[\d.]+ (\d{3})\b/.exec(line);
    return status ? [Number(status[1])] : [];
  });
}

/**
 * Whether `actual` (what a command printed) is what the README `shown`: JSON structurally, whatever its layout; other
 * output line by line (blank lines aside), a line that is only `…` standing for any number of lines. Within values,
 * `…` stands for any text, times for any time, and server-set numbers (revisions, event ids) for any integer.
 * `prefix`: `actual` may go on after the shown lines (a stream stopped by Ctrl-C). Answers the bindings it made, or
 * why not.
 */
export function matchOutput(
  shown: string[],
  actual: string,
  prefix = false,
): { ok: true; bindings: Bindings } | { ok: false; why: string } {
  const bindings: Bindings = new Map();
  const pattern = parsePattern(shown.join(''));
  if (pattern !== undefined && !prefix) {
    const value = parseJson(actual.trim());
    if (value === undefined) return { ok: false, why: 'the README shows JSON, the command printed something else' };
    const why = matchJson(pattern, value, '$', bindings);
    return why === undefined ? { ok: true, bindings } : { ok: false, why };
  }
  const lines = actual
    .replace(/\r/g, '')
    .split('\n')
    .filter((line) => line.trim() !== '');
  const expected = shown.filter((line) => line.trim() !== '');
  const found = matchLines(expected, 0, lines, 0, prefix);
  if (!found) return { ok: false, why: 'its lines differ from those the README shows' };
  return { ok: true, bindings: found };
}

function matchLines(shown: string[], i: number, actual: string[], j: number, prefix: boolean): Bindings | undefined {
  if (i === shown.length) return prefix || j === actual.length ? new Map() : undefined;
  if (shown[i] === WILDCARD) {
    for (let k = j; k <= actual.length; k++) {
      const rest = matchLines(shown, i + 1, actual, k, prefix);
      if (rest) return rest;
    }
    return undefined;
  }
  if (j === actual.length) return undefined;
  const here: Bindings = new Map();
  if (matchLine(shown[i], actual[j], here) !== undefined) return undefined;
  const rest = matchLines(shown, i + 1, actual, j + 1, prefix);
  return rest && new Map([...here, ...rest]);
}

/** One line: JSON, a `Name: value` header or event field, or text. Answers why not, or undefined. */
function matchLine(shown: string, actual: string, bindings: Bindings): string | undefined {
  const pattern = parsePattern(shown);
  if (pattern !== undefined && typeof pattern === 'object') {
    const value = parseJson(actual);
    return value === undefined ? 'not JSON' : matchJson(pattern, value, '$', bindings);
  }
  const field = /^([A-Za-z][\w-]*): ?(.*)$/.exec(shown);
  const actualField = /^([A-Za-z][\w-]*): ?(.*)$/.exec(actual);
  if (field && actualField) {
    const name = field[1].toLowerCase();
    if (name !== actualField[1].toLowerCase()) return `${field[1]}: a different field`;
    if (SERVER_SET_FIELDS.has(name) && /^\d+$/.test(field[2])) {
      if (!/^\d+$/.test(actualField[2])) return `${field[1]}: not an integer`;
      bindings.set(field[2], actualField[2]);
      return undefined;
    }
    if (SERVER_SET_FIELDS.has(name) && POSITION.test(field[2])) {
      if (!POSITION.test(actualField[2])) return `${field[1]}: not a position`;
      bindings.set(field[2], actualField[2]);
      return undefined;
    }
    if (name === 'data') {
      const data = parsePattern(field[2]);
      const value = parseJson(actualField[2]);
      if (data !== undefined && value !== undefined) return matchJson(data, value, 'data', bindings);
    }
    return textPattern(field[2]).test(actualField[2]) ? undefined : `${field[1]}: a different value`;
  }
  return textPattern(shown).test(actual) ? undefined : 'a different line';
}

/** Text with `…` for any text, times for any time, `revision N` for any revision, and any position for a position. */
function textPattern(shown: string): RegExp {
  const parts = shown.split(/(…|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z|\brevision \d+|\b\d+\.[0-9a-f]{8}\b)/);
  const source = parts
    .map((part, index) => {
      if (index % 2 === 0) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      if (part === WILDCARD) return '.*';
      if (ISO_TIME.test(part)) return ISO_TIME.source.slice(1, -1);
      if (POSITION.test(part)) return POSITION.source.slice(1, -1);
      return 'revision \\d+';
    })
    .join('');
  return new RegExp(`^${source}$`);
}

function matchJson(
  shown: unknown,
  actual: unknown,
  path: string,
  bindings: Bindings,
  member?: string,
): string | undefined {
  const differs = () => `${path}: the README shows ${JSON.stringify(shown)}, the server sent ${JSON.stringify(actual)}`;
  if (shown === WILDCARD) return undefined;
  if (typeof shown === 'string') {
    if (typeof actual !== 'string') return differs();
    if (ISO_TIME.test(shown)) return ISO_TIME.test(actual) ? undefined : differs();
    return textPattern(shown).test(actual) ? undefined : differs();
  }
  if (typeof shown === 'number' && member !== undefined && SERVER_SET_MEMBERS.has(member)) {
    if (!Number.isInteger(actual)) return differs();
    bindings.set(String(shown), String(actual));
    return undefined;
  }
  if (Array.isArray(shown)) {
    if (!Array.isArray(actual)) return differs();
    const open = shown.at(-1) === REST;
    const items = open ? shown.slice(0, -1) : shown;
    if (open ? actual.length < items.length : actual.length !== items.length) {
      return `${path}: the README shows ${items.length}${open ? ' or more' : ''} items, the server sent ${actual.length}`;
    }
    for (const [index, item] of items.entries()) {
      const why = matchJson(item, actual[index], `${path}[${index}]`, bindings);
      if (why) return why;
    }
    return undefined;
  }
  if (isObject(shown)) {
    if (!isObject(actual)) return differs();
    for (const [key, value] of Object.entries(shown)) {
      if (key === REST) continue;
      if (!(key in actual)) return `${path}.${key}: missing`;
      const why = matchJson(value, actual[key], `${path}.${key}`, bindings, key);
      if (why) return why;
    }
    const extra = Object.keys(actual).filter((key) => !(key in shown));
    if (!(REST in shown) && extra.length > 0) return `${path}: members the README does not show: ${extra.join(', ')}`;
    return undefined;
  }
  return isDeepStrictEqual(shown, actual) ? undefined : differs();
}

/** JSON as the README writes it: a bare `…` member or item means "and more", `"…"` any value. */
export function parsePattern(text: string): unknown {
  if (!/^\s*[[{"]/.test(text)) return undefined;
  let json = '';
  let inString = false;
  const open: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      json += c;
      if (c === '\\') json += text[++i];
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') open.push(c);
    else if (c === '}' || c === ']') open.pop();
    else if (c === WILDCARD) {
      json += open.at(-1) === '{' ? `"${REST}":0` : `"${REST}"`;
      continue;
    }
    json += c;
  }
  return parseJson(json);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
