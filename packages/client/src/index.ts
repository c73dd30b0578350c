/**
 * `@agent-registry/client`: register an agent and keep its lease alive, find agents, and watch them come and go.
 *
 *     const registry = new RegistryClient({ url: 'http://registry:3000' });
 *     const lease = await registry.register({ agent_id: 'planner-7', agent_name: 'Planner', host, port });
 *     const planners = await registry.listAll({ capability: 'planning' });
 *     const watch = registry.watch({ capability: 'planning' }, (update) => console.log(update));
 *     await lease.close();
 */
export * from './errors.js';
export * from './event-stream.js';
export * from './query.js';
export * from './registry-client.js';
export * from './lease.js';
export * from './watch.js';
