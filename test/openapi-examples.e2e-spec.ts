import { onEachDatabase } from './support/databases';
import { serverForSuite } from './support/server-process';

/**
 * The OpenAPI document's own examples, which Swagger UI's "Try it out" starts from: for every operation of /docs-json,
 * a request made of its parameters' examples (and its body's), against the built server. An example the API refuses
 * (a 400) misleads whoever tries it.
 */

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  schema?: { example?: unknown };
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: { $ref?: string } }> };
}
interface OpenApi {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, { properties: Record<string, { example?: unknown }> }> };
}

/** Operations whose examples, on a new registry, are answered with another documented status than a 2xx; and why. */
const EXAMPLES_ANSWERED: Record<string, { status: number; why: string }> = {
  'GET /events': {
    status: 410,
    why: 'its examples resume after revision 1042 (as X-Registry-Revision shows it), ahead of a new registry',
  },
};

describe.each(onEachDatabase())('OpenAPI examples (built server on %s)', (dialect) => {
  const suite = serverForSuite(dialect);

  it("answers a request made of each operation's parameter (and body) examples with a 2xx, or its documented status", async () => {
    const doc = (await (await suite.server.fetch('/docs-json')).json()) as OpenApi;
    const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({ key: `${method.toUpperCase()} ${path}`, operation })),
    );
    // The examples' agent first, so that the others find it; its deregistration last.
    const rank = ({ key }: { key: string }) => (key === 'POST /agents/register' ? 0 : key.startsWith('DELETE') ? 2 : 1);
    operations.sort((a, b) => rank(a) - rank(b));
    expect(operations.length).toBeGreaterThanOrEqual(13);

    const answers: Record<string, unknown> = {};
    for (const { key, operation } of operations) {
      const [method, path] = key.split(' ');
      const params = operation.parameters ?? [];
      const example = (param: Parameter) => param.schema?.example;
      const url = new URL(
        path.replace(/\{(\w+)\}/g, (_, name: string) =>
          encodeURIComponent(String(example(params.find((p) => p.name === name)!))),
        ),
        suite.server.url,
      );
      for (const param of params.filter((p) => p.in === 'query')) {
        for (const value of [example(param)].flat()) url.searchParams.append(param.name, String(value));
      }
      const headers: Record<string, string> = Object.fromEntries(
        params.filter((p) => p.in === 'header').map((p) => [p.name, String(example(p))]),
      );
      let body: string | undefined;
      const schemaRef = operation.requestBody?.content['application/json']?.schema.$ref;
      if (schemaRef) {
        const schema = doc.components.schemas[schemaRef.split('/').pop()!];
        body = JSON.stringify(
          Object.fromEntries(Object.entries(schema.properties).map(([name, property]) => [name, property.example])),
        );
        headers['Content-Type'] = 'application/json';
      }
      // A watch never ends: its status and headers are the answer.
      const aborted = new AbortController();
      const response = await fetch(url, { method, headers, body, signal: aborted.signal });
      const answered = response.headers.get('content-type')?.startsWith('text/event-stream')
        ? (aborted.abort(), undefined)
        : await response.text();
      const success = response.status >= 200 && response.status < 300;
      const expected = EXAMPLES_ANSWERED[key]?.status ?? (success ? response.status : '2xx');
      expect({ key, status: response.status, answered }).toEqual({ key, status: expected, answered });
      answers[key] = answered;
    }
    // The filters' examples find the examples' agent: a page after planner-6, of agents that match them all.
    const listed = JSON.parse(answers['GET /agents'] as string) as { agent_id: string }[];
    expect(listed.map((agent) => agent.agent_id)).toEqual(['planner-7']);
    expect(answers['GET /sd/prometheus']).toContain('"10.0.4.17:8080"');
  });
});
