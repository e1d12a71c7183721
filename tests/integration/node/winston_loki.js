// Logs two lines through winston-loki (protobuf + snappy, its default) to LOOKOUT_URL with LOOKOUT_KEY as
// the basic auth password, flushes, and exits 0 only if every push succeeded.
const winston = require('winston')
const LokiTransport = require('winston-loki')

const marker = process.env.MARKER
let failed = null
const transport = new LokiTransport({
  host: process.env.LOOKOUT_URL,
  basicAuth: `lookout:${process.env.LOOKOUT_KEY}`,
  labels: { service_name: 'winston-shop', host: 'node-1' },
  json: process.env.LOKI_JSON === '1',
  batching: true,
  interval: 0.2, // seconds
  onConnectionError: (err) => { failed = err }
})
const logger = winston.createLogger({ transports: [transport] })
logger.error(`charge failed ${marker}`, { labels: { env: 'test' } })
logger.info(`charge retried ${marker}`)
transport.flush().then(() => {
  transport.close()
  if (failed) {
    console.error(`push failed: ${failed}`)
    process.exit(1)
  }
  process.exit(0)
})
