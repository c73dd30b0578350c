import { RepeatingTask } from './repeating-task';

describe('RepeatingTask', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('runs after each wait, and waits again only once a run has settled: never two at once', async () => {
    let finish!: () => void;
    const task = jest.fn(() => new Promise<void>((resolve) => (finish = resolve)));
    const repeating = new RepeatingTask(task, () => 100);
    repeating.start();
    expect(task).not.toHaveBeenCalled();
    await jest.advanceTimersByTimeAsync(100);
    expect(task).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1000);
    expect(task).toHaveBeenCalledTimes(1);
    finish();
    await jest.advanceTimersByTimeAsync(99);
    expect(task).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(task).toHaveBeenCalledTimes(2);
    finish();
    await repeating.stop();
  });

  it('runs again after a run that failed or threw, with the wait asked for then', async () => {
    const delays = [100];
    const task = jest
      .fn<unknown, []>()
      .mockImplementationOnce(() => Promise.reject(new Error('down')))
      .mockImplementationOnce(() => {
        throw new Error('down');
      })
      .mockReturnValue(undefined);
    const repeating = new RepeatingTask(task, () => delays.shift() ?? 10);
    repeating.start();
    await jest.advanceTimersByTimeAsync(100);
    await jest.advanceTimersByTimeAsync(10);
    await jest.advanceTimersByTimeAsync(10);
    expect(task).toHaveBeenCalledTimes(3);
    await repeating.stop();
  });

  it('stops: no run after stop(), which resolves once the run in progress settles', async () => {
    let finish!: () => void;
    const task = jest.fn(() => new Promise<void>((resolve) => (finish = resolve)));
    const repeating = new RepeatingTask(task, () => 100);
    repeating.start();
    await jest.advanceTimersByTimeAsync(100);
    let stopped = false;
    const stopping = repeating.stop().then(() => (stopped = true));
    await jest.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);
    finish();
    await stopping;
    await jest.advanceTimersByTimeAsync(1000);
    expect(task).toHaveBeenCalledTimes(1);
  });
});
