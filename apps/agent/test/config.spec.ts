/** agent.json: defaults, and every bad field named in one error (the agent then exits 2 before doing anything). */
import { ConfigError, parseConfig } from '../src/config';

const KEY = `sga_0123456789abcdef_${'A'.repeat(43)}`;

describe('agent configuration', () => {
  it('fills the defaults and resolves relative paths beside the file', () => {
    const config = parseConfig({ gatewayUrl: 'https://signet.example.com/', key: KEY, scanPaths: ['certs'], targets: [{ name: 'web', certPath: '/etc/tls/cert.pem', keyPath: '/etc/tls/key.pem' }] }, '/etc/signet-agent');
    expect(config).toMatchObject({
      gatewayUrl: 'https://signet.example.com', scanPaths: ['/etc/signet-agent/certs'], endpoints: [], intervalSeconds: 3600, stateDir: '/etc/signet-agent/.signet-agent',
      pkcs12Passwords: [''], probeTimeoutSeconds: 5, heartbeatSeconds: 30, onceRetrySeconds: 60,
      targets: [{ name: 'web', certPath: '/etc/tls/cert.pem', keyPath: '/etc/tls/key.pem', mode: 0o644, reloadTimeoutSeconds: 60 }],
    });
  });

  it('names every bad field at once', () => {
    let error: unknown;
    try {
      parseConfig({
        gatewayUrl: 'ftp://x', key: 'sgn_not_an_agent_key', endpoints: ['no-port', 'host:70000'], intervalSeconds: 1,
        targets: [{ name: '../etc', certPath: 'relative.pem', mode: 'rw-r--r--', owner: 'root;rm' }, { name: 'b', certPath: '/same', keyPath: '/same' }],
      }, '/tmp');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    for (const fault of [
      'gatewayUrl must be http(s)', 'key must be the agent key', 'endpoints: "no-port" is not host:port', 'endpoints: "host:70000" is not host:port',
      'intervalSeconds must be a number from 10', 'targets[0].name must be', 'targets[0].certPath must be an absolute path', 'targets[0].mode must be an octal string',
      'targets[0].owner must be', 'targets[1]: each file needs a path of its own',
    ]) expect(message).toContain(fault);
    expect(() => parseConfig([], '/tmp')).toThrow(ConfigError);
  });
});
