import { Logger, StreamableFile } from '@nestjs/common';
import { Readable } from 'node:stream';

const logger = new Logger('FullList');

/**
 * A JSON array sent as it is read, the same text JSON.stringify makes of the whole array: `first` (each element's
 * JSON text), then each chunk `rest` yields. The body is chunked, without Content-Length.
 *
 * A chunk is read only when the client has taken the one before: the stream is piped, and its highWaterMark is 0, so
 * it reads nothing ahead while the response waits for the socket to drain (the default Readable.from read a chunk
 * ahead, and one of 100 big agents was 3 MB). What a slow or paused client holds is the chunk the response is
 * writing. A HEAD request reads no chunk past the first (the adapters end it once the stream is readable), and a
 * client that hangs up stops the reading. A read that fails after the first bytes can only cut the connection, which
 * the client sees as a body that ends before its closing `]`.
 */
export function streamJsonArray(first: string[], rest: AsyncGenerator<string[]>): StreamableFile {
  return new StreamableFile(new JsonArrayText(first, rest), {
    type: 'application/json; charset=utf-8',
  }).setErrorHandler((error: Error, response) => {
    logger.error(`A full list failed after its first bytes; its connection was cut: ${error.message}`, error.stack);
    response.destroy?.();
  });
}

/** A JSON array, whole, as the body of an answer of one chunk: the bytes JSON.stringify makes of the array. */
export function jsonArrayText(elements: string[]): string {
  return `[${elements.join(',')}]`;
}

class JsonArrayText extends Readable {
  private started = false;
  private reading = false;

  constructor(
    private readonly first: string[],
    private readonly rest: AsyncGenerator<string[]>,
  ) {
    super({ highWaterMark: 0 });
  }

  override _read(): void {
    if (!this.started) {
      this.started = true;
      this.push(`[${this.first.join(',')}`);
      return;
    }
    if (this.reading) return;
    this.reading = true;
    this.rest.next().then(
      (chunk) => {
        this.reading = false;
        if (chunk.done) {
          this.push(']');
          this.push(null);
        } else this.push(`,${chunk.value.join(',')}`);
      },
      (error: Error) => this.destroy(error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.rest.return(undefined).then(
      () => callback(error),
      () => callback(error),
    );
  }
}
