import { PerformanceObserver } from 'node:perf_hooks';

/**
 * Preloaded into the registry's process by the scale run (`node -r <this file as JS> dist/src/main.js`): the longest
 * event-loop stall, measured by how late a 5 ms setInterval fires (monitorEventLoopDelay misses a stall that comes
 * right after its reset); the longest garbage-collection pause in the same window, to tell the two causes apart;
 * and the process's memory, now and at its peak in the window (sampled on the same interval). The bench asks over IPC:
 * 'reset' starts a new window, 'report' answers `{ stallMs, gcMs, rssBytes, heapBytes, peakRssBytes }`, and at the RSS peak V8's heap in use
 * (`peakHeapUsedBytes`) and memory outside it (`peakExternalBytes`: Buffers, socket buffers).
 */
const INTERVAL_MS = 5;
let last = performance.now();
let worst = 0;
let worstGc = 0;
let peakRss = process.memoryUsage.rss();
/** Where the memory is at the RSS peak: V8's heap in use, and Buffers and strings held outside it. */
let atPeak = { heapUsed: 0, external: 0 };
const sample = () => {
  const rss = process.memoryUsage.rss();
  if (rss <= peakRss) return;
  peakRss = rss;
  const { heapUsed, external } = process.memoryUsage();
  atPeak = { heapUsed, external };
};

setInterval(() => {
  const now = performance.now();
  worst = Math.max(worst, now - last - INTERVAL_MS);
  last = now;
  sample();
}, INTERVAL_MS).unref();

new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) worstGc = Math.max(worstGc, entry.duration);
}).observe({ entryTypes: ['gc'] });

process.on('message', (message) => {
  if (message === 'reset') {
    worst = 0;
    worstGc = 0;
    last = performance.now();
    peakRss = 0;
  }
  sample();
  const { rss, heapTotal } = process.memoryUsage();
  process.send?.({
    stallMs: worst,
    gcMs: worstGc,
    rssBytes: rss,
    heapBytes: heapTotal,
    peakRssBytes: peakRss,
    peakHeapUsedBytes: atPeak.heapUsed,
    peakExternalBytes: atPeak.external,
  });
});
process.channel?.unref();
