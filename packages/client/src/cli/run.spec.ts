import { run } from './run.js';
import { EXIT } from './exit-codes.js';

/** The command line as `run` reads it, for what needs no registry: help, usage errors, `keys hash`. */
describe('run', () => {
  const invoke = async (argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await run(argv, { env: {}, out: (line) => out.push(line), err: (line) => err.push(line) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  it("finds the command after options given before it, the command's own included", async () => {
    const help = await invoke(['--limit', '5', 'list', '--help']);
    expect(help.code).toBe(EXIT.ok);
    expect(help.out).toContain('agent-registry list');
    const line = await invoke([
      '--url',
      'http://registry:3000',
      'keys',
      'hash',
      'ci',
      'reader',
      'ci-secret-0123456789',
    ]);
    expect(line).toMatchObject({ code: EXIT.ok, out: expect.stringMatching(/^ci reader [0-9a-f]{64}$/) as unknown });
  });

  it('reports an unknown command by its name, with a suggestion', async () => {
    expect(await invoke(['--limit', '5', 'lst'])).toMatchObject({
      code: EXIT.usage,
      err: expect.stringContaining('Unknown command "lst"') as unknown,
    });
    expect(await invoke(['lst'])).toMatchObject({
      code: EXIT.usage,
      err: expect.stringMatching(/Unknown command "lst"[\s\S]*Did you mean "list"\?/) as unknown,
    });
  });
});
