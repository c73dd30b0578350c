const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * The path of an array element (`[2]`) or a member (`.name`, or `["weird key"]` when the name is not an identifier,
 * so the path stays unambiguous).
 */
export function memberPath(path: string, member: string | number): string {
  if (typeof member === 'number') return `${path}[${member}]`;
  return IDENTIFIER.test(member) ? `${path}.${member}` : `${path}[${JSON.stringify(member)}]`;
}
