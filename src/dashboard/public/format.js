// How times and labels read on the dashboard: "4s ago", "in 26s", "3m 5s ago"; region:eu-west-1.

function span(ms) {
  const seconds = Math.floor(Math.abs(ms) / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m ${seconds % 60}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 === 0 ? `${hours}h` : `${hours}h ${minutes % 60}m`;
  return `${Math.floor(hours / 24)}d`;
}

/** How long ago `iso` was, at `now` (ms): "4s ago". A time ahead of `now` (clock skew) reads "just now". */
export function ago(iso, now) {
  const ms = now - Date.parse(iso);
  return ms < 1000 ? 'just now' : `${span(ms)} ago`;
}

/** When `iso` comes, at `now` (ms): "in 26s", or "26s ago" once it has passed. */
export function until(iso, now) {
  const ms = Date.parse(iso) - now;
  return ms > 0 ? `in ${span(ms)}` : `${span(ms)} ago`;
}

/** An agent's labels as `key:value`, the notation the label filter (and the API's `label=`) takes. */
export function labelTexts(agent) {
  return Object.entries(agent.labels).map(([key, value]) => `${key}:${value}`);
}
