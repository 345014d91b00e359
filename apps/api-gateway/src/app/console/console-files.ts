/**
 * The web console (API.md section 11): the static files Vite builds into dist/apps/console, served at
 * /console. They are read into memory once at start (a few hundred kilobytes), so a request costs a map
 * lookup and no disk access, like /healthz: that is why these paths sit ahead of the API's guards and
 * rate limits, and why none of them needs a key (the app signs in against /api/v1 itself).
 *
 *   /console, /console/<anything without a file>   index.html, no-cache (deep links of the app's router)
 *   /console/assets/<name>-<hash>.<ext>             the hashed bundle, cached for a year (immutable)
 *   /console/assets/<missing>                       not answered here: the API's 404 in its error shape
 *
 * Every answer carries a strict Content-Security-Policy: scripts, styles and fetches from this origin
 * only, no inline script or style (Vite's output has none; the browser test checks nothing is refused),
 * nothing may frame the console, and no third-party origin is reachable.
 */
import { Logger } from '@nestjs/common';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { gzipSync } from 'node:zlib';

export const CONSOLE_PATH = '/console';

export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "font-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; '),
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';
/** Text worth compressing; images and fonts already are. */
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json', '.txt']);

interface ConsoleFile {
  body: Buffer;
  gzipped: Buffer | null;
  contentType: string;
  etag: string;
  cacheControl: string;
}

/**
 * Where the built console is: dist/apps/console at the repository root, whether this file runs built
 * (dist/apps/api-gateway/src/app/console) or from source under Jest (apps/api-gateway/src/app/console).
 */
export function builtConsoleDir(here = __dirname): string {
  const marker = `${sep}dist${sep}apps${sep}`;
  const root = here.includes(marker) ? here.slice(0, here.lastIndexOf(marker)) : join(here, '..', '..', '..', '..', '..');
  return join(root, 'dist', 'apps', 'console');
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** Every built file by its URL path below /console ("/index.html", "/assets/index-3f2a.js"). */
export function loadConsoleFiles(dir: string): Map<string, ConsoleFile> {
  const files = new Map<string, ConsoleFile>();
  for (const path of filesUnder(dir)) {
    const urlPath = '/' + relative(dir, path).split(sep).join('/');
    const ext = extname(path).toLowerCase();
    const body = readFileSync(path);
    files.set(urlPath, {
      body,
      gzipped: COMPRESSIBLE.has(ext) ? gzipSync(body, { level: 9 }) : null,
      contentType: CONTENT_TYPES[ext] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
      cacheControl: urlPath.startsWith('/assets/') ? IMMUTABLE : REVALIDATE,
    });
  }
  return files;
}

function send(req: Request, res: Response, file: ConsoleFile): void {
  res.set(CONSOLE_SECURITY_HEADERS);
  res.set({ 'Content-Type': file.contentType, 'Cache-Control': file.cacheControl, ETag: file.etag, Vary: 'Accept-Encoding' });
  if (req.headers['if-none-match'] === file.etag) {
    res.status(304).end();
    return;
  }
  const gzip = file.gzipped !== null && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  const body = gzip ? (file.gzipped as Buffer) : file.body;
  if (gzip) res.set('Content-Encoding', 'gzip');
  res.set('Content-Length', String(body.length));
  res.status(200).end(req.method === 'HEAD' ? undefined : body);
}

/**
 * Express middleware for /console. Without a build (`npm run build` builds the console too) /console
 * answers 503 saying so, rather than a bare 404 that would look like a wrong URL.
 */
export function consoleFiles(dir = builtConsoleDir()): RequestHandler {
  const logger = new Logger('Console');
  const built = existsSync(join(dir, 'index.html'));
  const files = built ? loadConsoleFiles(dir) : new Map<string, ConsoleFile>();
  if (!built) logger.warn({ dir }, 'the console is not built: /console answers 503 (run npm run build)');
  const index = files.get('/index.html');

  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    // Mounted at /console: req.path is what follows it ("/", "/certificates/…", "/assets/…").
    const path = req.path;
    const file = files.get(path);
    if (file) return send(req, res, file);
    if (path.startsWith('/assets/')) return next();
    if (!index) {
      res.set(CONSOLE_SECURITY_HEADERS);
      res.status(503).type('text/plain').send('The console is not built on this server: run `npm run build`.\n');
      return;
    }
    send(req, res, index);
  };
}

/**
 * The gateway's onRequest hook for /console (Fastify): consoleFiles' answers, given the path below
 * /console and the reply (which speaks the part of Express's response API they use: fastify-app.ts).
 * Paths it leaves (a missing hashed asset, other methods) go on to the router and its 404.
 */
export function consoleHook(dir = builtConsoleDir()): (req: FastifyRequest, reply: FastifyReply) => Promise<unknown> {
  const serve = consoleFiles(dir);
  return async (req, reply) => {
    const url = req.url;
    if (!url.startsWith(CONSOLE_PATH)) return;
    const q = url.indexOf('?');
    const full = q === -1 ? url : url.slice(0, q);
    const rest = full.slice(CONSOLE_PATH.length);
    if (rest !== '' && !rest.startsWith('/')) return;
    (req as { metricsRoute?: string }).metricsRoute = CONSOLE_PATH;
    let passed = false;
    const view = { method: req.method, headers: req.headers, path: rest || '/' } as unknown as Request;
    serve(view, reply as unknown as Response, () => { passed = true; });
    if (passed) delete (req as { metricsRoute?: string }).metricsRoute;
    else return reply;
  };
}
