// A real OpenID provider for the login tests: panva's `oidc-provider` (certified) on loopback.
// Environment: PORT, CLIENT_ID, CLIENT_SECRET, USERS (JSON {name: {groups: [...]}}),
// OIDC_PROVIDER_DIR (the npm prefix oidc-provider is installed into; ESM ignores NODE_PATH).
// Its own login page (devInteractions) accepts any password for a known user.
// Test control (loopback only): POST /test/users/<name> {"groups": [...], "disabled": bool}.
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const main = path.join(process.env.OIDC_PROVIDER_DIR, 'node_modules/oidc-provider/lib/index.js');
const { default: Provider, interactionPolicy } = await import(pathToFileURL(main).href);
// A first-party client: no consent screen, also not the one native clients get by default.
const policy = interactionPolicy.base();
policy.get('consent').checks.remove('native_client_prompt');

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const users = JSON.parse(process.env.USERS || '{}');

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    application_type: 'native', // loopback redirect URIs match on any port (RFC 8252 7.3)
    redirect_uris: ['http://127.0.0.1/hub/oauth_callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  scopes: ['openid', 'profile', 'groups', 'offline_access'],
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], groups: ['groups'] },
  cookies: { keys: ['arcade-test-cookie-key'] },
  async findAccount(ctx, id) {
    const user = users[id];
    if (!user || user.disabled) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: id, groups: user.groups || [] };
      },
    };
  },
  async loadExistingGrant(ctx) {
    // first-party client: no consent screen
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile groups offline_access');
    await grant.save();
    return grant;
  },
  async issueRefreshToken(ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  interactions: { policy },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
});
const callback = provider.callback();

function control(req, res) {
  const name = decodeURIComponent(req.url.slice('/test/users/'.length));
  let body = '';
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    users[name] = { ...(users[name] || {}), ...JSON.parse(body || '{}') };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(users[name]));
  });
}

http.createServer((req, res) => {
  if (req.method === 'POST' && req.url.startsWith('/test/users/')) return control(req, res);
  return callback(req, res);
}).listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
