/**
 * Environment configuration, validated once at start-up.
 *
 * Each app declares a class whose properties are environment variable names decorated with
 * class-validator rules. `loadConfig` returns a typed, validated instance or throws a ConfigError
 * whose message is one line naming every offending variable (never its value: it may be a secret).
 */
import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { ValidationError, getMetadataStorage, validateSync } from 'class-validator';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Ctor<T> = new () => T;

function describe(errors: ValidationError[]): string[] {
  return errors.flatMap((e) => {
    const messages = Object.values(e.constraints ?? {});
    if (!messages.length) return describe(e.children ?? []);
    // A variable that is simply absent gets the plainest message, whatever rules it also breaks.
    return [e.value === undefined ? `${e.property} is required` : messages[0]];
  });
}

/**
 * The variables a schema declares: every property with a validation rule. Read from class-validator's
 * metadata, not from an instance, because a property without an initialiser may not exist on one
 * (it depends on the compiler's class-field semantics).
 */
function declaredVariables(schema: Ctor<object>): string[] {
  const rules = getMetadataStorage().getTargetValidationMetadatas(schema, '', true, false);
  return [...new Set(rules.map((rule) => rule.propertyName))];
}

/** Defaults live on the class (property initialisers); the environment overrides them. */
export function loadConfig<T extends object>(schema: Ctor<T>, env: NodeJS.ProcessEnv = process.env): T {
  const defaults = new schema() as Record<string, unknown>;
  const variables = declaredVariables(schema);
  const raw: Record<string, unknown> = {};
  for (const key of variables) raw[key] = defaults[key];
  for (const key of variables) if (env[key] !== undefined && env[key] !== '') raw[key] = env[key];
  const config = plainToInstance(schema, raw, { enableImplicitConversion: true, excludeExtraneousValues: false });
  const errors = validateSync(config, { whitelist: false, forbidUnknownValues: false, skipMissingProperties: false });
  if (errors.length) throw new ConfigError(describe(errors).join('; '));
  // Only the declared variables: an app never sees (or logs) environment it did not ask for.
  const picked = new schema() as Record<string, unknown>;
  for (const key of variables) picked[key] = (config as Record<string, unknown>)[key];
  return picked as T;
}

/**
 * Load config or end the process with one clear line on stderr and exit code 78 (EX_CONFIG),
 * so a mistyped variable never turns into a stack trace in an operator's terminal.
 */
export function loadConfigOrExit<T extends object>(app: string, schema: Ctor<T>, env: NodeJS.ProcessEnv = process.env): T {
  try {
    return loadConfig(schema, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`signet ${app}: invalid configuration: ${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}
