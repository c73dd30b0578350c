import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';

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
 * The dashboard's files (`public/`, copied beside the compiled code by nest-cli's `assets`), held in memory: a few
 * kilobytes, served to anyone, so a request can never name a path outside them (no file system access per request).
 */
@Injectable()
export class DashboardFiles {
  private readonly files = new Map<string, DashboardFile>();

  constructor(dir = join(__dirname, 'public')) {
    for (const name of readdirSync(dir)) {
      const contentType = CONTENT_TYPES[extname(name)];
      if (!contentType) continue;
      const body = readFileSync(join(dir, name), 'utf8');
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
      this.files.set(name, { body, contentType, etag });
    }
  }

  get(name: string): DashboardFile | undefined {
    return this.files.get(name);
  }
}
