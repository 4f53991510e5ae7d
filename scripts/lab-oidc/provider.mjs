// The riposte lab's OpenID Provider: node's `oidc-provider` (a certified
// implementation) with three lab people, one confidential client and a
// LAB-ONLY fault injector. Started by `scripts/lab up`; see docs/lab.md.
//
//   node provider.mjs provision  --dir DIR   create the missing secrets and the signing key in DIR
//   node provider.mjs people-json --dir DIR  print the lab people (with passwords) as JSON
//   node provider.mjs serve      --dir DIR   serve HTTPS on 127.0.0.1:8443 (DIR/tls/oidc.{pem,key})
//
// DIR holds (all mode 600): jwks.json (the private signing key), client_secret,
// faults_secret, cookie_secret, <login>.password. Nothing secret is ever logged.
import './compat.mjs';
import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { CompactSign, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK } from 'jose';

const ISSUER = 'https://127.0.0.1:8443/';
const CLIENT_ID = 'riposte-lab';
const LISTEN_HOST = '127.0.0.1';
const LISTEN_PORT = 8443;
const FAULTS_PATH = '/__lab/faults';
const FAULTS = ['tampered', 'wrong-audience', 'expired', 'wrong-nonce'];

// The lab's people. `sub` is fixed so a person is the same person across restarts.
const PEOPLE = [
  { login: 'alice', sub: '5e1f0c4a-a11c-4e00-8000-00000000a11c', name: 'Alice Responder', groups: ['soc-responders'], amr: ['pwd', 'mfa'] },
  { login: 'bob', sub: '5e1f0c4a-b0b0-4e00-8000-00000000b0b0', name: 'Bob Reader', groups: ['soc-readers'], amr: ['pwd'] },
  { login: 'carol', sub: '5e1f0c4a-ca20-4e00-8000-00000000ca20', name: 'Carol Marketing', groups: ['marketing'], amr: ['pwd'] },
].map((p) => ({ ...p, email: `${p.login}@lab.example.test` }));

// ---------------------------------------------------------------- secrets on disk
const randomSecret = () => randomBytes(24).toString('base64url');

function writePrivate(file, text) {
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
}

const readSecret = (dir, name) => readFileSync(join(dir, name), 'utf8').trim();

async function provision(dir) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const created = [];
  for (const name of ['client_secret', 'faults_secret', 'cookie_secret', ...PEOPLE.map((p) => `${p.login}.password`)]) {
    const file = join(dir, name);
    if (!existsSync(file) || readFileSync(file, 'utf8').trim() === '') {
      writePrivate(file, randomSecret());
      created.push(name);
    }
  }
  const jwksFile = join(dir, 'jwks.json');
  if (!existsSync(jwksFile)) {
    const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
    const jwk = await exportJWK(privateKey);
    jwk.kid = `lab-${randomBytes(6).toString('hex')}`;
    jwk.alg = 'RS256';
    jwk.use = 'sig';
    writePrivate(jwksFile, `${JSON.stringify({ keys: [jwk] })}\n`);
    created.push('jwks.json');
  }
  console.log(created.length ? `created ${created.join(', ')} in ${dir}` : `all secrets present in ${dir}`);
}

function peopleJson(dir) {
  const people = PEOPLE.map((p) => ({
    login: p.login,
    password: readSecret(dir, `${p.login}.password`),
    groups: p.groups,
    email: p.email,
    name: p.name,
    sub: p.sub,
    amr: p.amr,
  }));
  process.stdout.write(`${JSON.stringify(people)}\n`);
}

// ---------------------------------------------------------------- log
// scripts/lab sends stdout and stderr to DIR/provider.log.
const log = (...parts) => console.log(`${new Date().toISOString()} ${parts.join(' ')}`);

// ---------------------------------------------------------------- pages
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;max-width:26rem;margin:3rem auto}label{display:block;margin:.6rem 0}
input{width:100%;padding:.3rem}.lab{color:#a00;font-size:.8rem}.error{color:#a00}</style></head>
<body><p class="lab">riposte lab OpenID Provider (lab only, not a real identity provider)</p>
<h1>${esc(title)}</h1>${body}</body></html>`;
}

function loginPage(uid, clientId, error) {
  return page('Sign in', `<p>to <b>${esc(clientId)}</b></p>
${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
<label>Login <input name="login" autofocus required></label>
<label>Password <input name="password" type="password" required></label>
<button type="submit">Sign in</button></form>
<p><a id="cancel" href="/interaction/${esc(uid)}/abort">Cancel</a></p>`);
}

function send(res, status, contentType, body, headers = {}) {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', ...headers });
  res.end(body);
}

async function readBody(req, limit = 16 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

// Equal-time comparison of two strings (hashes first, so lengths never leak).
function secretEquals(a, b) {
  const ha = createHash('sha256').update(String(a)).digest();
  const hb = createHash('sha256').update(String(b)).digest();
  return timingSafeEqual(ha, hb);
}

// ---------------------------------------------------------------- fault injector (LAB ONLY)
// One armed fault at a time; the next token response (optionally: the next one
// for a given login) carries an altered ID token, then everything is normal again.
let armedFault = null; // { next, login }

async function alterIdToken(idToken, fault, signingKey) {
  const [header, payload, signature] = idToken.split('.');
  if (fault === 'tampered') {
    const sig = Buffer.from(signature, 'base64url');
    sig[Math.floor(sig.length / 2)] ^= 0x01;
    return `${header}.${payload}.${sig.toString('base64url')}`;
  }
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  const now = Math.floor(Date.now() / 1000);
  if (fault === 'wrong-audience') {
    claims.aud = 'someone-else';
    delete claims.azp;
  } else if (fault === 'expired') {
    claims.exp = now - 3600;
    claims.iat = now - 3600 - 300;
  } else if (fault === 'wrong-nonce') {
    claims.nonce = randomBytes(16).toString('base64url');
  }
  return new CompactSign(Buffer.from(JSON.stringify(claims)))
    .setProtectedHeader(decodeProtectedHeader(idToken))
    .sign(signingKey);
}

async function faultsRoute(req, res, faultsSecret) {
  if (req.method !== 'POST') {
    return send(res, 405, 'application/json', JSON.stringify({ error: 'POST only' }), { allow: 'POST' });
  }
  const auth = req.headers.authorization || '';
  if (!auth.startsWith('Bearer ') || !secretEquals(auth.slice(7), faultsSecret)) {
    log('faults: refused a request without the faults bearer secret');
    return send(res, 401, 'application/json', JSON.stringify({ error: 'bearer secret required (see faults_secret_file in lab.json)' }));
  }
  let body;
  try {
    body = JSON.parse(await readBody(req));
  } catch {
    return send(res, 400, 'application/json', JSON.stringify({ error: 'body must be JSON {"next": "<fault>"}' }));
  }
  const next = body?.next;
  const login = body?.login;
  if (next === 'none') {
    armedFault = null;
    log('faults: disarmed');
    return send(res, 200, 'application/json', JSON.stringify({ armed: null }));
  }
  if (!FAULTS.includes(next) || (login !== undefined && !PEOPLE.some((p) => p.login === login))) {
    return send(res, 400, 'application/json', JSON.stringify({ error: `next must be one of ${FAULTS.join(', ')} or none; login (optional) one of ${PEOPLE.map((p) => p.login).join(', ')}` }));
  }
  armedFault = { next, login };
  log(`faults: armed "${next}" for the next token response${login ? ` for ${login}` : ''}`);
  return send(res, 200, 'application/json', JSON.stringify({ armed: next, login: login ?? null }));
}

// ---------------------------------------------------------------- interactions
async function interactionRoute(req, res, provider, url, dir) {
  const [, , uid, action] = url.pathname.split('/'); // /interaction/<uid>[/<action>]
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    return send(res, 400, 'text/html; charset=utf-8', page('Sign-in expired', '<p>Start again from the application.</p>'));
  }
  const { prompt, params } = details;

  if (action === 'abort') {
    log(`interaction ${prompt.name}: cancelled by the person`);
    return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the person cancelled the sign-in' }, { mergeWithLastSubmission: false });
  }

  if (prompt.name === 'login') {
    if (req.method === 'GET' && !action) {
      return send(res, 200, 'text/html; charset=utf-8', loginPage(uid, params.client_id));
    }
    if (req.method === 'POST' && action === 'login') {
      const form = new URLSearchParams(await readBody(req));
      const login = form.get('login') ?? '';
      const password = form.get('password') ?? '';
      const person = PEOPLE.find((p) => p.login === login);
      // Always compare, so an unknown login costs the same as a wrong password.
      const expected = person ? readSecret(dir, `${person.login}.password`) : randomSecret();
      const ok = secretEquals(password, expected) && person !== undefined;
      if (!ok) {
        log(`login: refused ${person ? `"${person.login}" (wrong password)` : 'an unknown login'}`);
        return send(res, 200, 'text/html; charset=utf-8', loginPage(uid, params.client_id, 'Wrong login or password.'));
      }
      log(`login: ${person.login} signed in (amr ${person.amr.join('+')})`);
      return provider.interactionFinished(req, res, { login: { accountId: person.sub, amr: person.amr } }, { mergeWithLastSubmission: false });
    }
  }

  if (prompt.name === 'consent') {
    // riposte-lab is this lab's first-party client: consent is granted without a page.
    const { session: { accountId } } = details;
    let { grantId } = details;
    const grant = grantId ? await provider.Grant.find(grantId) : new provider.Grant({ accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    if (prompt.details.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    grantId = await grant.save();
    log(`consent: granted ${params.scope ?? ''} to ${params.client_id} (first-party lab client)`);
    return provider.interactionFinished(req, res, { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true });
  }

  return send(res, 400, 'text/html; charset=utf-8', page('Unexpected step', `<p>The provider asked for "${esc(prompt.name)}", which the lab does not handle.</p>`));
}

// ---------------------------------------------------------------- serve
async function serve(dir) {
  const jwks = JSON.parse(readFileSync(join(dir, 'jwks.json'), 'utf8'));
  const signingKey = await importJWK(jwks.keys[0], 'RS256');
  const faultsSecret = readSecret(dir, 'faults_secret');
  const bySub = new Map(PEOPLE.map((p) => [p.sub, p]));
  // Imported here: `provision` and `people-json` need none of it (nor its start-up warnings).
  const { default: Provider } = await import('oidc-provider');

  const provider = new Provider(ISSUER, {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: readSecret(dir, 'client_secret'),
      // "native" makes oidc-provider accept a loopback redirect URI on any port
      // (RFC 8252 section 7.3): riposte's tests listen on port 0.
      application_type: 'native',
      redirect_uris: ['http://127.0.0.1/ui/sign-in/oidc/callback', 'http://localhost/ui/sign-in/oidc/callback'],
      post_logout_redirect_uris: ['http://127.0.0.1/ui/sign-in', 'http://localhost/ui/sign-in'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    }],
    // client_secret_post is allowed too; the client registers _basic.
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    jwks,
    cookies: { keys: [readSecret(dir, 'cookie_secret')] },
    pkce: { required: () => true },
    responseTypes: ['code'],
    scopes: ['openid', 'profile', 'email', 'groups'],
    claims: {
      // amr (how the person signed in; alice's says mfa) comes from the sign-in
      // itself; listed under openid so every ID token carries it.
      openid: ['sub', 'amr'],
      // groups also comes with `profile`, so a client asking only for the usual
      // scopes still learns them (as Entra ID puts groups in every token).
      profile: ['name', 'preferred_username', 'groups'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    // The scopes' claims go into the ID token itself, not only into userinfo.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      dPoP: { enabled: false }, // riposte does not use it; keeps discovery plain
      rpInitiatedLogout: { enabled: true },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, sub) {
      const person = bySub.get(sub);
      if (!person) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            name: person.name,
            preferred_username: person.login,
            email: person.email,
            email_verified: true,
            groups: person.groups,
          };
        },
      };
    },
    clientBasedCORS: () => false,
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      IdToken: 600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
  });

  provider.on('server_error', (_ctx, err) => log(`server_error: ${err.message}`));
  for (const event of ['authorization.error', 'grant.error', 'end_session.error', 'userinfo.error']) {
    // error_detail says why (e.g. "PKCE verification failed"); never a secret.
    provider.on(event, (_ctx, err) => log(`${event}: ${err.error ?? err.name} ${err.error_description ?? err.message}${err.error_detail ? ` (${err.error_detail})` : ''}`));
  }
  provider.on('grant.success', (ctx) => log(`token: issued to ${ctx.oidc.client?.clientId}`));

  // The fault injector acts on the token endpoint's answer after oidc-provider made it.
  provider.use(async (ctx, next) => {
    await next();
    if (!armedFault || ctx.method !== 'POST' || ctx.path !== '/token' || ctx.status !== 200 || !ctx.body?.id_token) return;
    const claims = JSON.parse(Buffer.from(ctx.body.id_token.split('.')[1], 'base64url').toString('utf8'));
    const login = bySub.get(claims.sub)?.login;
    if (armedFault.login && armedFault.login !== login) return;
    const fault = armedFault.next;
    armedFault = null;
    ctx.body = { ...ctx.body, id_token: await alterIdToken(ctx.body.id_token, fault, signingKey) };
    log(`faults: the token response for ${login} carries a "${fault}" ID token (LAB FAULT)`);
  });

  const callback = provider.callback();
  const tls = { cert: readFileSync(join(dir, 'tls', 'oidc.pem')), key: readFileSync(join(dir, 'tls', 'oidc.key')) };
  const server = createServer(tls, async (req, res) => {
    const url = new URL(req.url, ISSUER);
    res.on('finish', () => log(`${req.method} ${url.pathname} ${res.statusCode}`)); // never the query: it holds codes
    try {
      if (url.pathname === FAULTS_PATH) return await faultsRoute(req, res, faultsSecret);
      if (url.pathname.startsWith('/interaction/')) return await interactionRoute(req, res, provider, url, dir);
      return callback(req, res);
    } catch (err) {
      log(`error on ${req.method} ${url.pathname}: ${err.name}: ${err.message}`);
      if (!res.headersSent) send(res, 400, 'text/html; charset=utf-8', page('Sign-in failed', `<p>${esc(err.message)}. Start again from the application.</p>`));
    }
  });
  server.listen(LISTEN_PORT, LISTEN_HOST, () => {
    log(`riposte lab OpenID Provider (oidc-provider) on ${ISSUER}, client ${CLIENT_ID}, people ${PEOPLE.map((p) => p.login).join(', ')}; faults at ${FAULTS_PATH} (LAB ONLY)`);
  });
  const stop = (sig) => {
    log(`stopping on ${sig}`);
    server.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// ---------------------------------------------------------------- main
const { positionals, values } = parseArgs({ allowPositionals: true, options: { dir: { type: 'string' } } });
const command = positionals[0];
if (!values.dir || !['provision', 'people-json', 'serve'].includes(command)) {
  console.error('usage: node provider.mjs provision|people-json|serve --dir DIR');
  process.exit(2);
}
if (command === 'provision') await provision(values.dir);
else if (command === 'people-json') peopleJson(values.dir);
else await serve(values.dir);
