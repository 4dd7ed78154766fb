/*
 * tests/oidc/provider.js - a real OpenID Provider (the oidc-provider package)
 * for tests/api/test_oidc.py, on a loopback port.
 *
 *   node provider.js PORT
 *
 * Issuer http://127.0.0.1:PORT. Clients "galley" (client_secret_basic) and
 * "galley-post" (client_secret_post), both with the secret "galley-secret",
 * PKCE required, any loopback port allowed in the redirect URI (RFC 8252).
 * Accounts: alice (verified email), bob (unverified email), carol (verified,
 * no Galley account yet), dave (verified). The login is automatic: the
 * account is the authorization request's login_hint, which the test adds to
 * the URL Galley redirects to; consent is granted at once.
 *
 * Test hooks, never part of a real provider:
 *   POST /__test/rotate        a new signing key (the old one is dropped)
 *   POST /__test/tamper?mode=  sig | claims | off: the token endpoint's
 *                              id_token gets a broken signature, or a payload
 *                              changed after signing
 *   GET  /__test/stats         {"jwks": requests of the JWKS so far}
 * It prints "listening PORT" once it accepts connections.
 */
import crypto from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const issuer = `http://127.0.0.1:${port}`;
const callbacks = ['local', 'post', 'evil'].map(
  (name) => `http://127.0.0.1/api/v1/auth/oauth2/${name}/callback`,
);

const accounts = {
  alice: { email: 'alice@example.com', email_verified: true, name: 'Alice' },
  bob: { email: 'bob@example.com', email_verified: false, name: 'Bob' },
  carol: { email: 'carol@example.com', email_verified: true, name: 'Carol' },
  dave: { email: 'dave@example.com', email_verified: true, name: 'Dave' },
};

let tamper = 'off';
let jwksHits = 0;

function signingKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: crypto.randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };
}

function client(id, method) {
  return {
    client_id: id,
    client_secret: 'galley-secret',
    application_type: 'native',
    redirect_uris: callbacks,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: method,
  };
}

/* Breaks the id_token of a token response as the tamper mode says. */
function tampered(idToken) {
  const [h, p, s] = idToken.split('.');
  if (tamper === 'sig') {
    const sig = Buffer.from(s, 'base64url');
    sig[0] ^= 1;
    return `${h}.${p}.${sig.toString('base64url')}`;
  }
  if (tamper === 'claims') {
    const claims = JSON.parse(Buffer.from(p, 'base64url'));
    claims.email = 'admin@example.com';
    return `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
  }
  return idToken;
}

function makeProvider() {
  const provider = new Provider(issuer, {
    clients: [client('galley', 'client_secret_basic'), client('galley-post', 'client_secret_post')],
    jwks: { keys: [signingKey()] },
    async findAccount(ctx, id) {
      const a = accounts[id];
      return a && { accountId: id, claims: async () => ({ sub: `sub-${id}`, ...a }) };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    conformIdTokenClaims: false, // email and name in the ID token, not only at userinfo
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { methods: ['S256'], required: () => true },
    cookies: { keys: ['galley-test-cookie-key'] },
  });
  provider.use(async (ctx, next) => {
    if (ctx.path === '/jwks') {
      jwksHits += 1;
    }
    await next();
    if (ctx.path === '/token' && ctx.body && ctx.body.id_token) {
      ctx.body = { ...ctx.body, id_token: tampered(ctx.body.id_token) };
    }
  });
  return provider;
}

let provider = makeProvider();

/* The automatic login: the account named by login_hint, every scope granted. */
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const accountId = details.params.login_hint;
  if (!accounts[accountId]) {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end('unknown login_hint\n');
    return;
  }
  const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

function hook(req, res) {
  const url = new URL(req.url, issuer);
  if (req.method === 'POST' && url.pathname === '/__test/rotate') {
    provider = makeProvider();
  } else if (req.method === 'POST' && url.pathname === '/__test/tamper') {
    tamper = url.searchParams.get('mode') || 'off';
  } else if (url.pathname !== '/__test/stats') {
    res.writeHead(404);
    res.end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jwks: jwksHits, tamper }));
}

const server = http.createServer((req, res) => {
  if (req.url.startsWith('/__test/')) {
    hook(req, res);
  } else if (req.method === 'GET' && req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`${err}\n`);
    });
  } else {
    provider.callback()(req, res);
  }
});
server.listen(port, '127.0.0.1', () => {
  console.log(`listening ${port}`);
});
