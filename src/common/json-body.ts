import {
  BadRequestException,
  HttpException,
  PayloadTooLargeException,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

/** Methods whose bodies are never read (Fastify's list; Express follows it). */
const BODYLESS_METHODS = new Set(['GET', 'HEAD', 'TRACE']);

/** The content codings a body may arrive in, and their decoders: what proxies and HTTP clients send. */
const DECODERS = new Map([
  ['gzip', createGunzip],
  // RFC 9110 §8.4.1.3: a recipient SHOULD treat x-gzip as gzip.
  ['x-gzip', createGunzip],
  ['deflate', createInflate],
  ['br', createBrotliDecompress],
]);

/** The request line and headers: what decides how a body is read. */
export interface RequestHead {
  method?: string;
  headers: IncomingHttpHeaders;
}

/** A 415 for a Content-Encoding the registry cannot decode; the answer lists the ones it can (RFC 9110 §15.5.16). */
export class UnsupportedContentEncodingException extends UnsupportedMediaTypeException {
  static readonly ACCEPTED = 'gzip, deflate, br';

  constructor(coding: string) {
    super(
      `unsupported content encoding ${JSON.stringify(clip(coding))}: send the body as ` +
        `${UnsupportedContentEncodingException.ACCEPTED}, or uncompressed`,
    );
  }
}

/** A media type as RFC 9110 §8.3.1 writes it: type and subtype in lower case, parameter names in lower case. */
export interface MediaType {
  type: string;
  subtype: string;
  parameters: Map<string, string>;
}

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED_STRING = '"(?:[\\t !\\x23-\\x5b\\x5d-\\x7e\\x80-\\xff]|\\\\[\\t\\x20-\\x7e\\x80-\\xff])*"';
/** Sticky (`y`) patterns, applied one after another: no backtracking across a header of 16 KiB. */
const TYPE_AND_SUBTYPE = new RegExp(`[ \\t]*(${TOKEN})/(${TOKEN})`, 'y');
const PARAMETER = new RegExp(`[ \\t]*;[ \\t]*(?:(${TOKEN})=(${TOKEN}|${QUOTED_STRING}))?`, 'y');
const SPACE_TO_END = /[ \t]*$/y;

/** A Content-Type value, or undefined when it is not one (`json`, `application/json; charset="`). */
export function parseMediaType(value: string): MediaType | undefined {
  TYPE_AND_SUBTYPE.lastIndex = 0;
  const head = TYPE_AND_SUBTYPE.exec(value);
  if (!head) return undefined;
  const parameters = new Map<string, string>();
  let at = TYPE_AND_SUBTYPE.lastIndex;
  for (;;) {
    PARAMETER.lastIndex = at;
    const parameter = PARAMETER.exec(value);
    if (!parameter) break;
    at = PARAMETER.lastIndex;
    const [, name, raw] = parameter;
    if (name === undefined) continue;
    const key = name.toLowerCase();
    const unquoted = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
    if (!parameters.has(key)) parameters.set(key, unquoted);
  }
  SPACE_TO_END.lastIndex = at;
  if (!SPACE_TO_END.test(value)) return undefined;
  return { type: head[1].toLowerCase(), subtype: head[2].toLowerCase(), parameters };
}

/** `application/json` and every `application/*+json`. */
function isJson({ type, subtype }: MediaType): boolean {
  return type === 'application' && (subtype === 'json' || (subtype.length > 5 && subtype.endsWith('+json')));
}

/**
 * What is wrong with the headers that say how to read a request's body, checked before anything reads it: a
 * Content-Type that is not a media type is a 400, body or no body (Fastify refuses it on its own, with a 415 that
 * says nothing, if this check does not come first). Undefined when they are fine or the method has no body.
 */
export function bodyHeadersProblem({ method, headers }: RequestHead): HttpException | undefined {
  const contentType = headers['content-type'];
  if (contentType === undefined || BODYLESS_METHODS.has(method ?? '')) return undefined;
  if (parseMediaType(contentType) !== undefined) return undefined;
  return new BadRequestException(
    `The Content-Type header is not a media type (type/subtype; name=value): ${JSON.stringify(clip(contentType))}`,
  );
}

/**
 * The JSON body of a request, read the same way on both adapters (after bodyHeadersProblem): bodies of
 * `application/json` and `application/*+json` up to `limit` bytes (413 beyond, counted as sent and as decoded, so a
 * small gzip body that inflates past the limit is refused as soon as it does), in UTF-8 only (415 otherwise; RFC
 * 8259 §8.1), a leading byte order mark ignored (RFC 8259 allows it), gzip, deflate or br content codings decoded
 * (415 for others), an empty body read as `{}`, and any JSON value returned, so that the validation pipe answers
 * "must be a JSON object" for arrays and scalars alike. A body of any other type, or of a GET, HEAD or TRACE, is
 * left unread: undefined.
 */
export async function readJsonBody(
  { method, headers }: RequestHead,
  stream: Readable,
  limit: number,
): Promise<unknown> {
  if (BODYLESS_METHODS.has(method ?? '')) return undefined;
  const mediaType = parseMediaType(headers['content-type'] ?? '');
  if (!mediaType || !isJson(mediaType)) return undefined;
  const charset = mediaType.parameters.get('charset')?.toLowerCase() ?? 'utf-8';
  if (charset !== 'utf-8') throw new UnsupportedMediaTypeException(`unsupported charset "${charset.toUpperCase()}"`);
  const coding = (headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  const decoder = coding === 'identity' || coding === '' ? undefined : DECODERS.get(coding);
  if (coding !== 'identity' && coding !== '' && !decoder) throw new UnsupportedContentEncodingException(coding);
  // Refused before a byte is read.
  if (Number(headers['content-length']) > limit) throw new PayloadTooLargeException();

  let body = await collect(stream, limit, decoder && { name: coding, create: decoder });
  if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) body = body.subarray(3);
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (thrown) {
    throw new BadRequestException((thrown as Error).message);
  }
}

type Decoder = ReturnType<typeof createGunzip>;

/**
 * The body's bytes, decoded when it has a content coding; no more than `limit` of them either side of the decoder.
 * On an error it stops reading and leaves the rest of the body to Node, which discards it: the answer says
 * `Connection: close`.
 */
function collect(stream: Readable, limit: number, coding?: { name: string; create: () => Decoder }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (stream.readableEnded) {
      resolve(Buffer.alloc(0));
      return;
    }
    const decoder = coding?.create();
    const chunks: Buffer[] = [];
    let sent = 0;
    let length = 0;
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      stream.off('data', onData).off('end', onEnd).off('error', onAborted).off('close', onClose);
      decoder?.destroy();
      if (error) reject(error);
      else resolve(Buffer.concat(chunks, length));
    };
    const take = (chunk: Buffer) => {
      length += chunk.length;
      if (length > limit) finish(new PayloadTooLargeException());
      else chunks.push(chunk);
    };
    const onData = (chunk: Buffer) => {
      sent += chunk.length;
      if (sent > limit) finish(new PayloadTooLargeException());
      else if (decoder) decoder.write(chunk);
      else take(chunk);
    };
    const onEnd = () => (decoder ? decoder.end() : finish());
    const onAborted = () =>
      finish(new BadRequestException('The client closed the connection before the request body was complete.'));
    const onClose = () => {
      if (!stream.readableEnded) onAborted();
    };
    decoder
      ?.on('data', take)
      .on('end', () => finish())
      .on('error', (error) =>
        finish(new BadRequestException(`The request body is not valid ${coding!.name} data: ${error.message}`)),
      );
    stream.on('data', onData).on('end', onEnd).on('error', onAborted).on('close', onClose);
  });
}

function clip(text: string): string {
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}
