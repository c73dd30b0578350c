/**
 * A task run again and again in this process: run, wait, run again. The wait starts once a run has settled, so two
 * runs never overlap; after stop() none starts. A run that fails is the task's to report: the next one runs anyway.
 */
export class RepeatingTask {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  /**
   * @param task one run (its promise, if it returns one, is waited for before the next wait begins)
   * @param delayMs the wait before the next run, asked for as each wait begins
   * @param unref whether a wait lets the process exit
   */
  constructor(
    private readonly task: () => unknown,
    private readonly delayMs: () => number,
    private readonly unref = false,
  ) {}

  /** Runs the task after the first wait, and so on until stop(). */
  start(): void {
    this.schedule();
  }

  /** Starts no run after this; resolves once a run in progress has settled. */
  stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    return this.running ?? Promise.resolve();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.runOnce(), this.delayMs());
    if (this.unref) this.timer.unref();
  }

  private runOnce(): void {
    let result: unknown;
    try {
      result = this.task();
    } catch {
      result = undefined;
    }
    this.running = Promise.resolve(result).then(
      () => this.settled(),
      () => this.settled(),
    );
  }

  private settled(): void {
    this.running = undefined;
    this.schedule();
  }
}
