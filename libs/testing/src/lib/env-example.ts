/**
 * `.env.example` must document every variable a service reads. Each service's tests call this with its
 * config class, so a new variable without documentation fails that service's tests.
 */
import { getMetadataStorage } from 'class-validator';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export function undocumentedVariables(schema: new () => object): string[] {
  const text = readFileSync(join(__dirname, '../../../../.env.example'), 'utf8');
  // `# NAME=value` counts: a variable left commented out so each service keeps its own default.
  const documented = new Set([...text.matchAll(/^(?:# )?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
  const read = getMetadataStorage().getTargetValidationMetadatas(schema, '', true, false).map((m) => m.propertyName);
  return [...new Set(read)].filter((name) => !documented.has(name));
}
