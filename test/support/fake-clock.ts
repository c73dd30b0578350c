import { Clock } from '../../src/common/clock';

/** A clock that stands still until a test moves it. */
export class FakeClock extends Clock {
  constructor(private current = new Date('2026-11-27T09:00:00.000Z')) {
    super();
  }

  override now(): Date {
    return new Date(this.current);
  }

  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }

  set(date: Date): void {
    this.current = new Date(date);
  }
}
