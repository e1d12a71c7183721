// Logs two lines through winston's built-in Http transport to LOOKOUT_URL/v1/json with LOOKOUT_KEY as a
// bearer token, and exits 0 once both were answered 200 (the transport treats anything else as a failure).
const winston = require('winston')

const marker = process.env.MARKER
const url = new URL(process.env.LOOKOUT_URL)
const transport = new winston.transports.Http({
  host: url.hostname,
  port: Number(url.port),
  path: '/v1/json',
  auth: { bearer: process.env.LOOKOUT_KEY }
})
let logged = 0
transport.on('warn', (err) => {
  console.error(`push failed: ${err}`)
  process.exit(1)
})
transport.on('logged', () => {
  logged += 1
  if (logged === 2) process.exit(0)
})
const logger = winston.createLogger({
  level: 'debug',
  defaultMeta: { service: 'winston-api', hostname: 'node-2' },
  transports: [transport]
})
logger.warn(`refund slow ${marker}`, { orderId: 17 })
logger.debug(`refund done ${marker}`)
