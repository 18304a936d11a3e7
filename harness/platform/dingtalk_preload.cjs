'use strict';
// Points the official DingTalk Node SDK (npm `dingtalk-stream`) and a bot's own HTTP calls at the
// chatbot-harness platform emulator, leaving the bot's code unchanged. Load it before the bot:
//
//   DINGTALK_OPENAPI_ENDPOINT=http://127.0.0.1:PORT NODE_OPTIONS="--require $(harness platform --node-preload)" node bot.js
//
// The SDK hard-codes https://api.dingtalk.com/v1.0/gateway/connections/open and
// https://oapi.dingtalk.com/gettoken (module constants, read-only in its ESM build). This module
// rewrites every request to those two hosts, made through node:http / node:https (axios, the ws
// package, follow-redirects) or the global fetch, to DINGTALK_OPENAPI_ENDPOINT, the variable the
// Python SDK reads. Requests to any other host pass untouched. Works for CommonJS and ESM bots alike.

const http = require('node:http');
const https = require('node:https');
const { urlToHttpOptions } = require('node:url');
const { syncBuiltinESMExports } = require('node:module');

const HOSTS = new Set(['api.dingtalk.com', 'oapi.dingtalk.com']);
const endpoint = process.env.DINGTALK_OPENAPI_ENDPOINT;

function install(base) {
  const basePath = base.pathname.replace(/\/+$/, '');
  const transport = base.protocol === 'https:' ? https : http;
  const original = { request: transport.request };

  function hostOf(url, options) {
    if (url) return url.hostname;
    const host = options.hostname || options.host || '';
    return String(host).replace(/:\d+$/, '');
  }

  // (url[, options][, callback]) or (options[, callback]) -> options for the emulator, or null
  function redirect(args) {
    let [first, second, third] = args;
    let url = null;
    let options;
    let callback;
    if (typeof first === 'string' || first instanceof URL) {
      url = new URL(first);
      if (typeof second === 'function') {
        options = {};
        callback = second;
      } else {
        options = second || {};
        callback = third;
      }
    } else {
      options = first || {};
      callback = second;
    }
    if (!HOSTS.has(hostOf(url, options))) return null;
    const merged = { ...(url ? urlToHttpOptions(url) : {}), ...options };
    const path = merged.path || '/';
    const headers = { ...(merged.headers || {}) };
    for (const name of Object.keys(headers)) {
      if (name.toLowerCase() === 'host') delete headers[name];
    }
    delete merged.host;
    delete merged.agent; // an https agent would speak TLS to a plain-HTTP emulator
    delete merged.servername;
    delete merged.createConnection;
    return [
      {
        ...merged,
        protocol: base.protocol,
        hostname: base.hostname,
        port: base.port || (base.protocol === 'https:' ? 443 : 80),
        path: basePath + path,
        headers,
      },
      callback,
    ];
  }

  for (const mod of [http, https]) {
    const request = mod.request;
    mod.request = function dingtalkRequest(...args) {
      const redirected = redirect(args);
      if (redirected === null) return request.apply(this, args);
      return original.request.call(transport, ...redirected.filter((x) => x !== undefined));
    };
    mod.get = function dingtalkGet(...args) {
      const req = mod.request(...args);
      req.end();
      return req;
    };
  }

  if (typeof globalThis.fetch === 'function') {
    const fetch = globalThis.fetch;
    globalThis.fetch = function dingtalkFetch(input, init) {
      const raw = input instanceof Request ? input.url : String(input);
      let url;
      try {
        url = new URL(raw);
      } catch {
        return fetch(input, init);
      }
      if (!HOSTS.has(url.hostname)) return fetch(input, init);
      const target = `${base.origin}${basePath}${url.pathname}${url.search}`;
      return fetch(input instanceof Request ? new Request(target, input) : target, init);
    };
  }
  syncBuiltinESMExports(); // ESM `import { request } from 'node:https'` sees the rewritten functions too
}

if (!endpoint) {
  process.emitWarning(
    'DINGTALK_OPENAPI_ENDPOINT is not set: DingTalk calls are not redirected (set it to the emulator URL)',
    { code: 'DINGTALK_PRELOAD' },
  );
} else {
  let base;
  try {
    base = new URL(endpoint);
  } catch {
    throw new Error(`DINGTALK_OPENAPI_ENDPOINT is not a URL: ${JSON.stringify(endpoint)}`);
  }
  install(base);
}
