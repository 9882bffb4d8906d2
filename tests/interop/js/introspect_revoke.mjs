// RFC 7662 introspection and RFC 7009 revocation of a sessionward token, by an independent client library.
// In: ISSUER, CLIENT_ID, CLIENT_SECRET, TOKEN, LIBRARY ("oauth4webapi" | "openid-client"), AUTH ("basic" | "post").
// Out: {"before": <introspection>, "after": <introspection after the revocation>} on stdout.
import * as oauth from 'oauth4webapi'
import * as client from 'openid-client'

const env = process.env
const server = {
  issuer: env.ISSUER,
  introspection_endpoint: `${env.ISSUER}/v1/oauth/introspect`,
  revocation_endpoint: `${env.ISSUER}/v1/oauth/revoke`,
}
const auth = { basic: 'ClientSecretBasic', post: 'ClientSecretPost' }[env.AUTH]
if (!auth) throw new Error(`AUTH must be basic or post, not ${env.AUTH}`)

async function withOauth4webapi() {
  const rp = { client_id: env.CLIENT_ID }
  const clientAuth = oauth[auth](env.CLIENT_SECRET)
  const introspect = async () =>
    oauth.processIntrospectionResponse(server, rp, await oauth.introspectionRequest(server, rp, clientAuth, env.TOKEN))
  const before = await introspect()
  await oauth.processRevocationResponse(await oauth.revocationRequest(server, rp, clientAuth, env.TOKEN))
  return { before, after: await introspect() }
}

async function withOpenidClient() {
  const config = new client.Configuration(server, env.CLIENT_ID, env.CLIENT_SECRET, client[auth](env.CLIENT_SECRET))
  const before = await client.tokenIntrospection(config, env.TOKEN)
  await client.tokenRevocation(config, env.TOKEN)
  return { before, after: await client.tokenIntrospection(config, env.TOKEN) }
}

const run = { oauth4webapi: withOauth4webapi, 'openid-client': withOpenidClient }[env.LIBRARY]
if (!run) throw new Error(`LIBRARY must be oauth4webapi or openid-client, not ${env.LIBRARY}`)
console.log(JSON.stringify(await run()))
