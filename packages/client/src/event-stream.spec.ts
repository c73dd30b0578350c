import { EventStreamParser, readEventStream, revisionOf, StreamMessage } from './event-stream.js';

const STREAM =
  ': watching from revision 5\n\n' +
  'id: 6.5be0c2d7\nevent: registered\ndata: {"revision":6}\n\n' +
  ': keepalive\n\n' +
  'id: 9.e71a04b6\n\n';

describe('EventStreamParser', () => {
  it('hands over events, progress (an id alone) and comments, in order', () => {
    expect(new EventStreamParser().push(STREAM)).toEqual([
      { event: 'message', comments: ['watching from revision 5'] },
      { id: '6.5be0c2d7', event: 'registered', data: '{"revision":6}', comments: [] },
      { event: 'message', comments: ['keepalive'] },
      { id: '9.e71a04b6', event: 'message', comments: [] },
    ]);
  });

  it('reads the same messages however the text is cut into chunks, \\r\\n split across two included', () => {
    const text = STREAM.replace(/\n/g, '\r\n');
    const whole = new EventStreamParser().push(text);
    for (let size = 1; size < 12; size++) {
      const parser = new EventStreamParser();
      const messages: StreamMessage[] = [];
      for (let at = 0; at < text.length; at += size) messages.push(...parser.push(text.slice(at, at + size)));
      expect(messages).toEqual(whole);
    }
    expect(whole).toHaveLength(4);
  });

  it('keeps a message until its blank line, joins data lines and follows the spec on odd lines', () => {
    const parser = new EventStreamParser();
    expect(parser.push('data: a\ndata:b\r')).toEqual([]);
    expect(parser.push('data:  c\rdata\nid: 1\nretry: 10\nevent\n\n\n\n')).toEqual([
      { id: '1', event: '', data: 'a\nb\n c\n', comments: [] },
    ]);
  });
});

describe('readEventStream', () => {
  it('yields the messages of a body to its end, a UTF-8 character cut across chunks included', async () => {
    const bytes = new TextEncoder().encode('id: 1.00000000\ndata: "é"\n\n');
    const cut = bytes.indexOf(0xc3) + 1;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, cut));
        controller.enqueue(bytes.slice(cut));
        controller.close();
      },
    });
    const messages: StreamMessage[] = [];
    for await (const message of readEventStream(stream)) messages.push(message);
    expect(messages).toEqual([{ id: '1.00000000', event: 'message', data: '"é"', comments: [] }]);
  });

  it('cancels the body when the reader leaves early', async () => {
    let cancelled!: () => void;
    const cancel = new Promise<void>((resolve) => (cancelled = resolve));
    const endless = new ReadableStream<Uint8Array>({
      start: (controller) => controller.enqueue(new TextEncoder().encode(STREAM)),
      cancel: () => cancelled(),
    });
    for await (const message of readEventStream(endless)) {
      expect(message.comments).toEqual(['watching from revision 5']);
      break;
    }
    await cancel;
  });
});

describe('revisionOf', () => {
  it('is the revision of a position or of a bare revision, NaN otherwise', () => {
    expect(revisionOf('1042.9f3ab2c1')).toBe(1042);
    expect(revisionOf('7')).toBe(7);
    expect(revisionOf('')).toBeNaN();
    expect(revisionOf('x.1')).toBeNaN();
  });
});
