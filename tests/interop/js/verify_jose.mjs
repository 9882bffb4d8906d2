// jose (panva): verify a sessionward access token against the issuer's served JWKS, as a resource server would.
// In: ISSUER, JWKS_URI, AUDIENCE, TOKEN, ALGORITHM. Out: {"header": ..., "payload": ...} on stdout.
import { createRemoteJWKSet, jwtVerify } from 'jose'

const env = process.env
const jwks = createRemoteJWKSet(new URL(env.JWKS_URI))
const { payload, protectedHeader } = await jwtVerify(env.TOKEN, jwks, {
  issuer: env.ISSUER,
  audience: env.AUDIENCE,
  algorithms: [env.ALGORITHM],
  typ: 'at+jwt', // RFC 9068
})
console.log(JSON.stringify({ header: protectedHeader, payload }))
