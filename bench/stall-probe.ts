import { PerformanceObserver } from 'node:perf_hooks';

/**
 * Preloaded into the registry's process by the scale run (`node -r <this file as JS> dist/src/main.js`): the longest
 * event-loop stall, measured by how late a 5 ms setInterval fires (monitorEventLoopDelay misses a stall that comes
 * right after its reset); the longest garbage-collection pause in the same window, to tell the two causes apart;
 * and the process's memory, now and at its peak in the window (sampled on the same interval). The bench asks over IPC:
 * 'reset' starts a new window, 'report' answers `{ stallMs, gcMs, rssBytes, heapBytes, peakRssBytes }`.
 */
const INTERVAL_MS = 5;
let last = performance.now();
let worst = 0;
let worstGc = 0;
let peakRss = process.memoryUsage.rss();

setInterval(() => {
  const now = performance.now();
  worst = Math.max(worst, now - last - INTERVAL_MS);
  last = now;
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, INTERVAL_MS).unref();

new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) worstGc = Math.max(worstGc, entry.duration);
}).observe({ entryTypes: ['gc'] });

process.on('message', (message) => {
  if (message === 'reset') {
    worst = 0;
    worstGc = 0;
    last = performance.now();
    peakRss = process.memoryUsage.rss();
  }
  const { rss, heapTotal } = process.memoryUsage();
  peakRss = Math.max(peakRss, rss);
  process.send?.({ stallMs: worst, gcMs: worstGc, rssBytes: rss, heapBytes: heapTotal, peakRssBytes: peakRss });
});
process.channel?.unref();
