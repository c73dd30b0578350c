/** Where the API docs are served (app.setup.ts): Swagger UI and its files under /docs, the document as JSON and YAML. */
export const DOCS_PATHS = { ui: '/docs', json: '/docs-json', yaml: '/docs-yaml' } as const;

export const DOCS_MOUNTS: string[] = Object.values(DOCS_PATHS);

/**
 * Whether a path, or the template of a route the router matched (`/docs-json`, `/docs/*`), is at or below one of
 * the docs' mounts: the requests Express hands to middleware mounted there.
 */
export function underDocs(path: string | undefined): boolean {
  return path !== undefined && DOCS_MOUNTS.some((mount) => path === mount || path.startsWith(`${mount}/`));
}
