// DPoP (RFC 9449) with an Ed25519 key, proofs made by oauth4webapi's DPoP handle (it names the algorithm
// "Ed25519", RFC 9864): sign in bound to the key, call /v1/me with the bound token, refresh, call again.
// In: ISSUER, USERNAME, PASSWORD. Out: {"login": ..., "me": ..., "refresh": ..., "me_after": ..., "jkt": ...}.
//
// sessionward signs in and refreshes with JSON bodies (POST /v1/sessions, /v1/sessions/refresh), not with an
// OAuth token endpoint's form: oauth4webapi makes the request and its proof for that URL and method (a grant
// request to that URL as its token endpoint), and the fetch below only swaps the form body for the JSON one.
// The resource requests are oauth4webapi's own.
import * as oauth from 'oauth4webapi'

const env = process.env
const rp = { client_id: 'web' }
const keyPair = await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])
const DPoP = oauth.DPoP(rp, keyPair)

function asJson(body) {
  return (url, init) => {
    const headers = new Headers(init.headers)
    headers.set('content-type', 'application/json')
    return fetch(url, { ...init, headers, body: JSON.stringify(body) })
  }
}

async function answer(response) {
  const text = await response.text()
  let body
  try {
    body = JSON.parse(text)
  } catch {
    body = text
  }
  return { status: response.status, body, www_authenticate: response.headers.get('www-authenticate') }
}

async function me(accessToken) {
  const url = new URL(`${env.ISSUER}/v1/me`)
  return answer(await oauth.protectedResourceRequest(accessToken, 'GET', url, new Headers(), null, { DPoP }))
}

const signIn = { issuer: env.ISSUER, token_endpoint: `${env.ISSUER}/v1/sessions` }
const login = await answer(
  await oauth.clientCredentialsGrantRequest(signIn, rp, oauth.None(), new URLSearchParams(), {
    DPoP,
    [oauth.customFetch]: asJson({ username: env.USERNAME, password: env.PASSWORD }),
  }),
)
const result = { jkt: await DPoP.calculateThumbprint(), login }
if (login.status === 201) {
  result.me = await me(login.body.access_token)
  const refreshing = { issuer: env.ISSUER, token_endpoint: `${env.ISSUER}/v1/sessions/refresh` }
  result.refresh = await answer(
    await oauth.refreshTokenGrantRequest(refreshing, rp, oauth.None(), login.body.refresh_token, {
      DPoP,
      [oauth.customFetch]: asJson({ refresh_token: login.body.refresh_token }),
    }),
  )
  if (result.refresh.status === 200) result.me_after = await me(result.refresh.body.access_token)
}
console.log(JSON.stringify(result))
