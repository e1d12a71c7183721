// Logs two lines through pino-elasticsearch (the official @elastic/elasticsearch client's bulk helper) to
// LOOKOUT_URL with LOOKOUT_KEY as the API key, ends the stream, and exits 0 once both were indexed.
const pino = require('pino')
const pinoElastic = require('pino-elasticsearch')

const marker = process.env.MARKER
const stream = pinoElastic({
  node: process.env.LOOKOUT_URL,
  auth: { apiKey: process.env.LOOKOUT_KEY },
  index: 'pino-shop',
  esVersion: 8,
  flushBytes: 100000
})
const fail = (what) => (err) => {
  console.error(`${what}: ${err && (err.stack || err.message || JSON.stringify(err))}`)
  process.exit(1)
}
stream.on('error', fail('error'))
stream.on('insertError', fail('insertError'))
stream.on('insert', (stats) => {
  if (stats.successful !== 2) fail('insert')(stats)
  process.exit(0)
})
const logger = pino({ level: 'debug' }, stream)
logger.error({ req: { id: 'req-9' } }, `stock sync failed ${marker}`)
logger.debug(`stock sync retried ${marker}`)
stream.end()
