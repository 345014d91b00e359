/**
 * Agent keys: `sga_<keyId>_<secret>`, made and checked like API keys (api-key-token.ts: the secret is
 * never stored, only its SHA-256), with their own prefix so the gateway knows an agent's key on sight and
 * looks it up among agents, never among API keys.
 */
import { ApiKeyToken, generateApiKey } from '../access/api-key-token';

const TOKEN = /^sga_([0-9a-f]{16})_([0-9A-Za-z]{43})$/;

export const isAgentKey = (presented: string): boolean => presented.startsWith('sga_');

export function generateAgentKey() {
  const { keyId, secret, secretHash } = generateApiKey();
  return { keyId, secretHash, token: `sga_${keyId}_${secret}`, prefix: `sga_${keyId}` };
}

export function parseAgentKey(token: string): ApiKeyToken | null {
  const match = TOKEN.exec(token);
  return match ? { keyId: match[1], secret: match[2] } : null;
}
