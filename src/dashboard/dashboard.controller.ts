import { Controller, Get, Headers, HttpStatus, NotFoundException, Param, Res } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ApiExcludeController } from '@nestjs/swagger';
import { Access } from '../auth/access.decorator';
import { DashboardFiles } from './dashboard-files';

/**
 * The dashboard's own Content-Security-Policy, in place of helmet's default on these responses: stricter (styles from
 * its stylesheet only, no inline style, no framing, calls to this origin only), and without helmet's
 * `upgrade-insecure-requests`. That directive makes a browser fetch the page's script and stylesheet over HTTPS even
 * when the page came over plain HTTP, which breaks the page on a registry reached at http://10.0.4.2:3000/ (Chromium
 * spares only localhost). Every URL the page uses is relative, so on HTTPS it changes nothing.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "base-uri 'none'",
  "connect-src 'self'",
  "font-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "img-src 'self' data:",
  "object-src 'none'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self'",
].join('; ');

/**
 * The dashboard: a page at `/` and its script and stylesheet under `/dashboard/`. Public whatever the keys and
 * REGISTRY_OPEN_ROUTES say: the files hold no data (a browser cannot send a key with a page load anyway), and the
 * page asks for a key when the API answers 401. Left out of the OpenAPI document: it is not part of the API.
 */
@ApiExcludeController()
@Controller()
export class DashboardController {
  constructor(
    private readonly files: DashboardFiles,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  @Get()
  @Access('public')
  page(@Headers('if-none-match') ifNoneMatch: string | undefined, @Res() response: unknown): void {
    this.send('index.html', ifNoneMatch, response);
  }

  @Get('dashboard/:file')
  @Access('public')
  asset(
    @Param('file') file: string,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res() response: unknown,
  ): void {
    if (file === 'index.html') throw new NotFoundException(`No dashboard file ${file}`);
    this.send(file, ifNoneMatch, response);
  }

  /**
   * `no-cache` with an ETag: browsers keep the files and ask each time (a 304 while unchanged), so an upgraded
   * registry serves its new dashboard at the next load, with no versioned file names to build.
   */
  private send(name: string, ifNoneMatch: string | undefined, response: unknown): void {
    const file = this.files.get(name);
    if (!file) throw new NotFoundException(`No dashboard file ${name}`);
    const { httpAdapter } = this.adapterHost;
    httpAdapter.setHeader(response, 'ETag', file.etag);
    httpAdapter.setHeader(response, 'Cache-Control', 'no-cache');
    httpAdapter.setHeader(response, 'Content-Security-Policy', DASHBOARD_CSP);
    if (ifNoneMatch?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === file.etag)) {
      httpAdapter.reply(response, undefined, HttpStatus.NOT_MODIFIED);
      return;
    }
    httpAdapter.setHeader(response, 'Content-Type', file.contentType);
    httpAdapter.reply(response, file.body, HttpStatus.OK);
  }
}
