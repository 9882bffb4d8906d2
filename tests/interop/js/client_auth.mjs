// openid-client 6 (over oauth4webapi) calling sessionward's introspection or revocation endpoint, as a relying
// party would. Usage: node client_auth.mjs ISSUER CLIENT_ID METHOD ACTION TOKEN, with the client secret in the
// environment (CLIENT_SECRET) and the server's CA in NODE_EXTRA_CA_CERTS. METHOD: default (openid-client's
// own choice when given a secret: client_secret_post), post or basic. ACTION: introspect or revoke.
// Prints one JSON line: the introspection answer, {"revoked": true}, or {"error", "status", "schemes"} (exit 1).
import * as client from 'openid-client'

const [issuer, clientId, method, action, token] = process.argv.slice(2)
const secret = process.env.CLIENT_SECRET ?? ''
const methods = { default: undefined, post: client.ClientSecretPost, basic: client.ClientSecretBasic }
if (!(method in methods) || !['introspect', 'revoke'].includes(action)) {
  console.error(`unknown method ${method} or action ${action}`)
  process.exit(2)
}
const server = {
  issuer,
  introspection_endpoint: `${issuer}/v1/oauth/introspect`,
  revocation_endpoint: `${issuer}/v1/oauth/revoke`,
}
const auth = methods[method] ? methods[method](secret) : undefined
const config = new client.Configuration(server, clientId, secret, auth)
try {
  if (action === 'introspect') {
    console.log(JSON.stringify(await client.tokenIntrospection(config, token)))
  } else {
    await client.tokenRevocation(config, token)
    console.log(JSON.stringify({ revoked: true }))
  }
} catch (error) {
  // A 401 with a WWW-Authenticate challenge is reported as that challenge (oauth4webapi's error code).
  const schemes = Array.isArray(error.cause) ? error.cause.map((challenge) => challenge.scheme) : []
  const status = error.status ?? error.response?.status ?? null
  console.log(JSON.stringify({ error: error.error ?? error.code ?? error.name, status, schemes }))
  process.exitCode = 1
}
