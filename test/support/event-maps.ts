import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** A source file of the repository, from dist/test/support/. */
export const sourcePath = (relative: string): string => fileURLToPath(new URL(`../../../${relative}`, import.meta.url));

/**
 * The member names of interface `name` in a TypeScript file: the events of a typed Socket.IO event
 * map, read from the source so the test follows the map without a list of its own.
 */
export function interfaceMembers(file: string, name: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  for (const statement of source.statements) {
    if (ts.isInterfaceDeclaration(statement) && statement.name.text === name) {
      return statement.members.map((m) => (m.name && (ts.isIdentifier(m.name) || ts.isStringLiteral(m.name)) ? m.name.text : m.getText(source))).sort();
    }
  }
  throw new Error(`no interface ${name} in ${file}`);
}
