import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';

/** One file of the dashboard, read once at boot. */
export interface DashboardFile {
  body: string;
  contentType: string;
  etag: string;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml; charset=utf-8',
};

/**
 * The modules of the client package's ESM build the page imports, by the name it imports them as: the one reader of
 * the event stream, not a copy of it (the module imports nothing, so a browser loads it as it is).
 */
export const CLIENT_MODULES: Record<string, string> = {
  'event-stream.js': join(
    dirname(require.resolve('@agent-registry/client/package.json')),
    'dist',
    'esm',
    'event-stream.js',
  ),
};

/**
 * The dashboard's files (`public/`, copied beside the compiled code by nest-cli's `assets`, and the client's
 * modules), held in memory: a few kilobytes, served to anyone, so a request can never name a path outside them (no
 * file system access per request).
 */
@Injectable()
export class DashboardFiles {
  private readonly files = new Map<string, DashboardFile>();

  constructor(dir = join(__dirname, 'public'), modules = CLIENT_MODULES) {
    for (const name of readdirSync(dir)) this.add(name, join(dir, name));
    for (const [name, path] of Object.entries(modules)) this.add(name, path);
  }

  private add(name: string, path: string): void {
    const contentType = CONTENT_TYPES[extname(name)];
    if (!contentType) return;
    const body = readFileSync(path, 'utf8');
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
    this.files.set(name, { body, contentType, etag });
  }

  get(name: string): DashboardFile | undefined {
    return this.files.get(name);
  }
}
