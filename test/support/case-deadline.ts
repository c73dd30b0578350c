/**
 * A deadline for each case of a model-based (fast-check) test. A case that hangs would otherwise look like a slow
 * suite until jest's timeout, with nothing said of where it stopped, and fast-check would go on to shrink it, one hang
 * per attempt. Past the deadline the case fails with the step it was waiting on and its plan, printed at once (jest
 * shows a test's output only when it ends); every later case then passes without running, so that fast-check ends
 * the run reporting the plan that hung (a later failure would be shrunk into plans that never ran). The hung case's
 * apps and connections stay open: the run is lost anyway, and its report is what matters.
 */
export class CaseDeadline {
  private hung: string | undefined;

  constructor(
    private readonly name: string,
    private readonly ms: number,
  ) {}

  /** Runs one case; `step` names what the case is about to wait on. */
  async run<T>(plan: unknown, body: (step: (doing: string) => void) => Promise<T>): Promise<T> {
    if (this.hung !== undefined) return undefined as T;
    let doing = 'starting';
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.hung = `${this.name}: still running after ${this.ms / 1000} s, at: ${doing}`;
        process.stdout.write(`${this.hung}; plan ${JSON.stringify(plan)}\n`);
        reject(new Error(this.hung));
      }, this.ms);
    });
    try {
      return await Promise.race([body((next) => (doing = next)), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A fast-check seed: `variable` from the environment to replay a run, a random one otherwise; printed either way. */
export function caseSeed(name: string, variable: string): number {
  const given = process.env[variable];
  const seed = given ? Number(given) : Math.floor(Math.random() * 2 ** 31);
  process.stdout.write(`${name}: seed ${seed} (${variable}=${seed} replays it)\n`);
  return seed;
}
