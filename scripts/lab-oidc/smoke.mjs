// Smoke test of the lab's OpenID Provider, without riposte: the code flow with
// PKCE through its real sign-in pages (plain HTTPS requests, cookies by hand),
// the ID token's claims, and each fault of the lab's fault injector.
//
//   node scripts/lab-oidc/smoke.mjs [path/to/lab.json]   (default: $RIPOSTE_LAB_JSON or <repo>/.lab/lab.json)
//
// Exits 0 and prints "smoke: ok" when every check passed.
import './compat.mjs';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { createLocalJWKSet, compactVerify, decodeJwt, jwtVerify } from 'jose';

const here = dirname(fileURLToPath(import.meta.url));
const labJson = process.argv[2] ?? process.env.RIPOSTE_LAB_JSON ?? join(here, '..', '..', '.lab', 'lab.json');
const oidc = JSON.parse(readFileSync(labJson, 'utf8')).oidc;
assert.ok(oidc, `${labJson} has no "oidc" object: run scripts/lab up (or scripts/lab oidc-up)`);
const ca = readFileSync(oidc.ca_file);
const clientSecret = readFileSync(oidc.client_secret_file, 'utf8').trim();
const faultsSecret = readFileSync(oidc.faults_secret_file, 'utf8').trim();
const person = (login) => oidc.people.find((p) => p.login === login);

// ---------------------------------------------------------------- HTTPS with the lab CA and a cookie jar
function fetchTls(url, { method = 'GET', headers = {}, body, jar } = {}) {
  const u = new URL(url);
  const cookie = jar && [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  return new Promise((resolve, reject) => {
    const req = request(u, { method, ca, headers: { ...headers, ...(cookie ? { cookie } : {}) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        for (const line of res.headers['set-cookie'] ?? []) {
          const [pair, ...attrs] = line.split(';');
          const [name, value] = [pair.slice(0, pair.indexOf('=')).trim(), pair.slice(pair.indexOf('=') + 1).trim()];
          const expired = attrs.some((a) => /^\s*expires=/i.test(a) && new Date(a.split('=')[1]) < new Date());
          if (jar) {
            if (expired || value === '') jar.delete(name);
            else jar.set(name, value);
          }
        }
        resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const issuer = new URL(oidc.issuer);
const discovery = JSON.parse((await fetchTls(new URL('.well-known/openid-configuration', issuer))).text);
assert.equal(discovery.issuer, oidc.issuer, 'discovery names the configured issuer');
const jwks = createLocalJWKSet(JSON.parse((await fetchTls(discovery.jwks_uri)).text));

// ---------------------------------------------------------------- the code flow through the sign-in pages
function authRequest({ port, nonce, state, challenge, redirectPath = '/ui/sign-in/oidc/callback' }) {
  const redirectUri = `http://127.0.0.1:${port}${redirectPath}`;
  const params = new URLSearchParams({
    client_id: oidc.client_id, response_type: 'code', scope: oidc.scopes.join(' '),
    redirect_uri: redirectUri, state, nonce,
  });
  if (challenge) params.set('code_challenge', challenge), params.set('code_challenge_method', 'S256');
  return { url: `${discovery.authorization_endpoint}?${params}`, redirectUri };
}

// Follows the provider's redirects (and fills in its login page) until it sends the
// browser back to redirectUri; returns that URL's query.
async function signIn(login, password, { port = 49152 + Math.floor(Math.random() * 15000), auth = 'basic' } = {}) {
  const jar = new Map();
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  const nonce = b64url(randomBytes(16));
  const state = b64url(randomBytes(16));
  const { url, redirectUri } = authRequest({ port, nonce, state, challenge });
  let next = url;
  let sawLoginPage = false;
  for (let hops = 0; hops < 12; hops++) {
    if (next.startsWith(redirectUri)) {
      const back = new URL(next).searchParams;
      assert.equal(back.get('state'), state, 'state comes back unchanged');
      assert.ok(back.get('code'), `a code comes back (error: ${back.get('error')} ${back.get('error_description')})`);
      const form = new URLSearchParams({ grant_type: 'authorization_code', code: back.get('code'), redirect_uri: redirectUri, code_verifier: verifier });
      const headers = { 'content-type': 'application/x-www-form-urlencoded' };
      if (auth === 'basic') {
        headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(oidc.client_id)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
      } else {
        form.set('client_id', oidc.client_id);
        form.set('client_secret', clientSecret);
      }
      const token = await fetchTls(discovery.token_endpoint, { method: 'POST', headers, body: form.toString() });
      assert.equal(token.status, 200, `token endpoint: ${token.text}`);
      assert.ok(sawLoginPage, 'the provider showed its login page');
      const { id_token: idToken, access_token: accessToken } = JSON.parse(token.text);
      return { idToken, accessToken, nonce };
    }
    const res = await fetchTls(next, { jar });
    if (res.status >= 300 && res.status < 400) {
      next = new URL(res.headers.location, next).href;
      continue;
    }
    assert.equal(res.status, 200, `${next}: ${res.text.slice(0, 300)}`);
    const action = res.text.match(/<form method="post" action="([^"]+)"/)?.[1];
    assert.ok(action && /name="login"/.test(res.text) && /name="password"/.test(res.text) && /<button type="submit"/.test(res.text), 'the login page has its form');
    sawLoginPage = true;
    const formUrl = new URL(action, next).href;
    const post = (pw) => fetchTls(formUrl, {
      method: 'POST', jar, headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ login, password: pw }).toString(),
    });
    const wrong = await post(`${password}x`);
    assert.equal(wrong.status, 200);
    assert.match(wrong.text, /Wrong login or password/, 'a wrong password is refused on the page');
    const right = await post(password);
    assert.ok(right.status >= 300 && right.status < 400, `the right password is accepted (status ${right.status})`);
    next = new URL(right.headers.location, formUrl).href;
  }
  throw new Error('the sign-in did not come back to the redirect URI');
}

const arm = (next, extra = {}) => fetchTls(oidc.faults_url, {
  method: 'POST',
  headers: { authorization: `Bearer ${faultsSecret}`, 'content-type': 'application/json' },
  body: JSON.stringify({ next, ...extra }),
});
const verify = (idToken) => jwtVerify(idToken, jwks, { issuer: oidc.issuer, audience: oidc.client_id, algorithms: ['RS256'] });
const checks = [];
const ok = (what) => { checks.push(what); console.log(`ok - ${what}`); };

// 1. alice: a verified ID token with her claims; any loopback port is a valid redirect.
const alice = person('alice');
{
  const { idToken, accessToken, nonce } = await signIn('alice', alice.password, { port: 50001 });
  const { payload, protectedHeader } = await verify(idToken);
  assert.equal(protectedHeader.alg, 'RS256');
  assert.equal(payload.nonce, nonce);
  assert.deepEqual(payload.groups, ['soc-responders']);
  assert.equal(payload.preferred_username, 'alice');
  assert.equal(payload.email, 'alice@lab.example.test');
  assert.equal(payload.sub, alice.sub);
  assert.deepEqual(payload.amr, ['pwd', 'mfa']);
  ok('alice signs in through the login page (port 50001); ID token verified: groups soc-responders, amr pwd+mfa, email, preferred_username, nonce');
  const userinfo = await fetchTls(discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${accessToken}` } });
  assert.equal(userinfo.status, 200, userinfo.text);
  assert.deepEqual(JSON.parse(userinfo.text).groups, ['soc-responders']);
  ok('userinfo answers for alice with her groups');
}
{
  const { idToken } = await signIn('bob', person('bob').password, { port: 61234, auth: 'post' });
  const { payload } = await verify(idToken);
  assert.deepEqual(payload.groups, ['soc-readers']);
  assert.deepEqual(payload.amr, ['pwd']);
  ok('bob signs in (port 61234, client_secret_post): groups soc-readers, amr pwd');
}
{
  const { idToken } = await signIn('carol', person('carol').password);
  assert.deepEqual((await verify(idToken)).payload.groups, ['marketing']);
  ok('carol signs in: groups marketing');
}

// 2. Refusals by the provider itself: no PKCE, a redirect URI not registered.
for (const [what, opts] of [
  ['without PKCE', { port: 50002 }],
  ['to an unregistered redirect path', { port: 50003, redirectPath: '/elsewhere', challenge: 'x'.repeat(43) }],
]) {
  const { url, redirectUri } = authRequest({ state: 's', nonce: 'n', ...opts });
  const res = await fetchTls(url);
  const loc = res.headers.location ?? '';
  if (opts.redirectPath) {
    assert.ok(!loc.startsWith(redirectUri), 'no redirect to an unregistered URI');
    assert.equal(res.status, 400);
  } else {
    assert.match(loc, /error=invalid_request/);
    assert.match(new URL(loc).searchParams.get('error_description'), /requires PKCE/);
  }
  ok(`an authorization request ${what} is refused`);
}

// 3. The fault injector: guarded, and each fault alters the next ID token as promised.
{
  const res = await fetchTls(oidc.faults_url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"next":"expired"}' });
  assert.equal(res.status, 401);
  const bad = await arm('everything');
  assert.equal(bad.status, 400);
  ok('the faults endpoint refuses a request without its bearer secret, and an unknown fault');
}
const now = Math.floor(Date.now() / 1000);
for (const fault of ['tampered', 'wrong-audience', 'expired', 'wrong-nonce']) {
  assert.equal((await arm(fault, { login: 'alice' })).status, 200);
  const { idToken, nonce } = await signIn('alice', alice.password);
  const claims = decodeJwt(idToken);
  if (fault === 'tampered') {
    await assert.rejects(verify(idToken), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    ok('tampered: the signature no longer verifies');
  } else {
    await compactVerify(idToken, jwks); // still signed by the provider's own key
    if (fault === 'wrong-audience') {
      assert.equal(claims.aud, 'someone-else');
      await assert.rejects(verify(idToken), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud' });
    } else if (fault === 'expired') {
      assert.ok(claims.exp <= now - 3000, `exp ${claims.exp} is an hour in the past`);
      await assert.rejects(verify(idToken), { code: 'ERR_JWT_EXPIRED' });
    } else {
      assert.notEqual(claims.nonce, nonce);
      assert.equal((await verify(idToken)).payload.groups[0], 'soc-responders');
    }
    ok(`${fault}: re-signed with the provider's key, ${fault === 'wrong-nonce' ? 'nonce differs' : fault === 'expired' ? 'exp an hour ago' : 'aud is someone-else'}`);
  }
}
{
  // One fault per token response, then normal again; a fault for bob leaves alice alone.
  const first = await signIn('alice', alice.password);
  assert.equal((await verify(first.idToken)).payload.nonce, first.nonce);
  assert.equal((await arm('expired', { login: 'bob' })).status, 200);
  const other = await signIn('alice', alice.password);
  assert.equal((await verify(other.idToken)).payload.nonce, other.nonce);
  const bobs = await signIn('bob', person('bob').password);
  await assert.rejects(verify(bobs.idToken), { code: 'ERR_JWT_EXPIRED' });
  const again = await signIn('bob', person('bob').password);
  await verify(again.idToken);
  ok('after a fault the next token is normal again; a fault armed for bob does not touch alice');
}
console.log(`smoke: ok (${checks.length} checks against ${oidc.issuer})`);
