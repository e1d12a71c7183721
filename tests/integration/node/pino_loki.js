// Logs two lines through pino-loki (Loki's JSON push, each line pino's JSON) to LOOKOUT_URL with
// LOOKOUT_KEY as the basic auth password, ends the stream (which sends the batch) and exits 0 only if
// pino-loki reported no error (it reports them with console.error instead of throwing).
const pino = require('pino')
const { pinoLoki } = require('pino-loki')

const marker = process.env.MARKER
let failed = false
const report = console.error
console.error = (...args) => { failed = true; report(...args) }
const stream = pinoLoki({
  host: process.env.LOOKOUT_URL,
  basicAuth: { username: 'pino', password: process.env.LOOKOUT_KEY },
  labels: { application: 'pino-loki-api' },
  batching: { interval: 60 }
})
stream.on('close', () => process.exit(failed ? 1 : 0))
const logger = pino({ level: 'debug' }, stream)
logger.warn({ req: { id: 'req-3' }, cart: 12 }, `cart abandoned ${marker}`)
logger.debug(`cart saved ${marker}`)
stream.end()
