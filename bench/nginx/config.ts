/**
 * nginx configurations for the proxy benchmark, written into a temporary prefix so that nginx
 * runs without root paths: one worker, no access log, every temp path inside the prefix.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A whole nginx.conf for instance `name` under `dir`, with `server` (and `extraHttp`) in its http block. */
export function nginxConfig(dir: string, name: string, server: string, extraHttp = ''): string {
  const temp = (what: string): string => `${what}_temp_path ${join(dir, `${name}-${what}`)};`;
  return `worker_processes 1;
pid ${join(dir, `${name}.pid`)};
error_log ${join(dir, `${name}-error.log`)} warn;
events { worker_connections 4096; }
http {
  access_log off;
  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}
  keepalive_requests 100000000;
  keepalive_timeout 75s;
  ${extraHttp}
  ${server}
}
`;
}

/** The backend: `return 200` with a fixed body on host:port. */
export function backendServer(host: string, port: number, body: string): string {
  return `server { listen ${host}:${port}; location / { default_type text/plain; return 200 ${JSON.stringify(body)}; } }`;
}

/** The upstream block for the proxy: a keep-alive pool to the backend. */
export function backendUpstream(host: string, port: number): string {
  return `upstream backend { server ${host}:${port}; keepalive 128; keepalive_requests 100000000; }`;
}

/** What each proxying location does: HTTP/1.1 keep-alive to the backend with the forwarding headers Portico sets (ingress-nginx sets these too). */
const PROXY_TO_BACKEND = `proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Port $server_port;
      proxy_set_header X-Request-ID $request_id;`;

/**
 * nginx as the proxy, equivalent to Portico's route: one virtual host, HTTP/1.1 keep-alive to the
 * backend, and the same forwarding headers Portico sets (ingress-nginx sets these too). `http2`:
 * the port speaks HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1.
 */
export function proxyServer(host: string, port: number, vhost: string, http2 = false): string {
  return `server {
    listen ${host}:${port}${http2 && !nginxHasHttp2Directive() ? ' http2' : ''};
    ${http2 && nginxHasHttp2Directive() ? 'http2 on;' : ''}
    server_name ${vhost};
    location / {
      ${PROXY_TO_BACKEND}
    }
  }`;
}

/**
 * nginx's counterpart of an Ingress with `use-regex: "true"`: one case-insensitive regex location
 * anchored at the start per path (`location ~* "^<path>"`), in the order given (ingress-nginx
 * writes them longest first, as Portico tries them), each proxying to the backend. A request no
 * path matches gets 404, as from Portico.
 */
export function regexProxyServer(host: string, port: number, vhost: string, paths: readonly string[]): string {
  const locations = paths.map((path) => `location ~* ${JSON.stringify(`^${path}`)} {\n      ${PROXY_TO_BACKEND}\n    }`).join('\n    ');
  return `server {
    listen ${host}:${port};
    server_name ${vhost};
    ${locations}
    location / { return 404; }
  }`;
}

/** The upstream block for the auth server: a keep-alive pool, as Portico keeps its auth connections alive. */
export function authUpstream(host: string, port: number): string {
  return `upstream auth { server ${host}:${port}; keepalive 64; keepalive_requests 100000000; }`;
}

/**
 * nginx's counterpart of an Ingress with `auth-url: http://<host>:<authPort><authPath>`, as
 * ingress-nginx's template writes it: `auth_request` to an internal location that proxies the
 * request's head without its body to the auth server, with the X-Original-* fields, then the
 * request proxied to the backend. The auth upstream is kept alive (ingress-nginx only does so with
 * `auth-keepalive`; without it every subrequest would open a connection, a cost Portico does not pay).
 */
export function authProxyServer(host: string, port: number, vhost: string, authHost: string, authPath: string, cacheKey?: string): string {
  // With a key, the auth location caches 200s for 5 minutes as ingress-nginx's auth-cache-key / auth-cache-duration make it (nginx.tmpl).
  const cache = cacheKey === undefined ? '' : `proxy_cache auth_cache; proxy_cache_valid 200 5m; proxy_cache_key "${cacheKey}"; proxy_buffering on;\n      `;
  return `server {
    listen ${host}:${port};
    server_name ${vhost};
    location = /_external-auth {
      internal;
      proxy_pass http://auth${authPath};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Host ${authHost};
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Sent-From "nginx-ingress-controller";
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Auth-Request-Redirect $request_uri;
      ${cache}}
    location / {
      auth_request /_external-auth;
      ${PROXY_TO_BACKEND}
    }
  }`;
}

/**
 * The auth server: `authPath` answers 200 when the request carries `<tokenHeader>: <token>`, 401
 * otherwise (so the bench can see that the subrequest is made); anything else 404.
 */
export function authServer(host: string, port: number, authPath: string, tokenHeader: string, token: string): string {
  const variable = `$http_${tokenHeader.toLowerCase().replaceAll('-', '_')}`;
  return `server { listen ${host}:${port}; location = ${authPath} { if (${variable} = ${JSON.stringify(token)}) { return 200; } return 401; } location / { return 404; } }`;
}

/** The auth answer cache zone of ingress-nginx's nginx.tmpl (`auth_cache`), its files under `dir`. */
export function authCachePath(dir: string): string {
  return `proxy_cache_path ${join(dir, 'nginx-cache-auth')} levels=1:2 keys_zone=auth_cache:10m max_size=128m inactive=30m use_temp_path=off;`;
}

/** Whether this nginx knows `http2 on;` (1.25.1 and later); older ones take `listen … http2` (both serve h2c by prior knowledge on a plain port). */
function nginxHasHttp2Directive(): boolean {
  const text = spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr ?? '';
  const [major = 0, minor = 0, patch = 0] = (/nginx\/(\d+)\.(\d+)\.(\d+)/.exec(text)?.slice(1) ?? []).map(Number);
  return major > 1 || (major === 1 && (minor > 25 || (minor === 25 && patch >= 1)));
}

/** The worker processes of an nginx master (its children), from /proc; [] when unreadable. */
export function nginxWorkers(master: number): number[] {
  try {
    return readFileSync(`/proc/${master}/task/${master}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
