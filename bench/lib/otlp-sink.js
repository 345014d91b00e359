'use strict';
/**
 * A throwaway OTLP/HTTP receiver for the "tracing on" bench runs: accepts POST /v1/traces (JSON),
 * counts the spans, answers 200, keeps nothing. Its own process, so its parsing costs the load
 * generator nothing.
 *
 *   node bench/lib/otlp-sink.js PORT      # prints "otlp-sink: N requests, M spans" on SIGTERM/SIGINT
 */
const http = require('node:http');

const port = Number(process.argv[2]);
let requests = 0;
let spans = 0;
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    requests++;
    try {
      for (const rs of JSON.parse(Buffer.concat(chunks).toString('utf8')).resourceSpans ?? []) {
        for (const ss of rs.scopeSpans ?? []) spans += (ss.spans ?? []).length;
      }
    } catch {
      // Not JSON (a protobuf exporter): counted as a request only.
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
  });
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`otlp-sink: listening on ${port}\n`));
const stop = () => {
  process.stdout.write(`otlp-sink: ${requests} requests, ${spans} spans\n`);
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
