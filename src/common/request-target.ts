/** A percent-encoded RFC 3986 unreserved character: a letter, a digit, `-`, `.`, `_` or `~`. */
const ENCODED_UNRESERVED = /%(3[0-9]|4[1-9a-f]|5[0-9a]|6[1-9a-f]|7[0-9a]|2[de]|5f|7e)/gi;

/** The scheme and authority of an absolute-form request target (`GET http://host/agents HTTP/1.1`). */
const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

/**
 * A request target as both adapters route it: origin-form (an absolute-form target loses its scheme and authority,
 * RFC 9112 §3.2.2), with percent-encoded unreserved characters in the path decoded (`/%61gents` is `/agents`: RFC
 * 3986 §6.2.2.2 makes them equivalent). Nothing else changes: the query stays as sent, and reserved characters
 * (`%2F`) stay encoded. Express routes the encoded path and Fastify the decoded one, so without this one path had
 * two spellings on one adapter and one on the other.
 */
export function canonicalTarget(target: string): string {
  // Most targets: origin-form, nothing encoded.
  if (target.startsWith('/') && !target.includes('%')) return target;
  let url = target;
  const absolute = target.startsWith('/') ? null : ABSOLUTE_FORM.exec(url);
  if (absolute) {
    url = url.slice(absolute[0].length);
    if (!url.startsWith('/')) url = `/${url}`;
  }
  const queryAt = url.indexOf('?');
  const path = queryAt < 0 ? url : url.slice(0, queryAt);
  if (!path.includes('%')) return url;
  const decoded = path.replace(ENCODED_UNRESERVED, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return queryAt < 0 ? decoded : decoded + url.slice(queryAt);
}
