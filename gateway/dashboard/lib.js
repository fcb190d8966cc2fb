// Helpers of the operators' dashboard (app.js loads after this file): HTTP against the gateway's
// JSON API, relative to /dashboard/, with the page's credentials, and small DOM helpers. Nothing
// runs here; the helpers hang on window.celerityDashboard (plain scripts, no build step).
'use strict';

window.celerityDashboard = (function helpers() {
  // ---- HTTP ------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path, init = {}) {
    const url = new URL('../api/v1/' + path, window.location.href);
    const headers = { accept: 'application/json' };
    if (init.json !== undefined) headers['content-type'] = 'application/json';
    let res;
    try {
      res = await fetch(url, {
        method: init.method || 'GET',
        credentials: 'same-origin',
        headers,
        body: init.json === undefined ? undefined : JSON.stringify(init.json),
      });
    } catch (err) {
      throw new ApiError(0, 'NETWORK', 'The gateway did not answer: ' + err.message);
    }
    const body = await res.json().catch(() => null);
    if (res.status === 401 || res.status === 403) {
      const message = (body && body.error && body.error.message) || res.statusText;
      showBanner(
        res.status === 401
          ? 'Not signed in: the gateway needs credentials for the dashboard (' + message + ').'
          : 'Not allowed: your credentials do not grant access to this view (' + message + ').',
      );
    }
    if (!res.ok) {
      const error = (body && body.error) || {};
      throw new ApiError(res.status, error.code || 'HTTP_' + res.status, error.message || res.statusText);
    }
    return body;
  }

  function showBanner(text) {
    const banner = document.querySelector('#banner');
    banner.textContent = text;
    banner.hidden = false;
  }

  // ---- DOM helpers -----------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null) continue;
      if (key === 'class') node.className = value;
      else if (key.startsWith('data-')) node.setAttribute(key, value);
      else if (key === 'onclick') node.addEventListener('click', value);
      else node[key] = value;
    }
    for (const child of children) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function fmtTime(value) {
    if (!value) return '—';
    const d = typeof value === 'number' ? new Date(value) : new Date(value);
    return d.toLocaleString();
  }

  function fmtAgo(ms) {
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    return s < 60 ? s + ' s ago' : s < 3600 ? Math.round(s / 60) + ' min ago' : Math.round(s / 3600) + ' h ago';
  }

  function fmtSeconds(a, b) {
    if (!a || !b) return '—';
    const s = (Date.parse(b) - Date.parse(a)) / 1000;
    return s < 1 ? Math.round(s * 1000) + ' ms' : s.toFixed(2) + ' s';
  }

  function json(value) {
    return el('pre', {}, JSON.stringify(value, null, 2));
  }

  return { ApiError, api, showBanner, el, fmtTime, fmtAgo, fmtSeconds, json };
})();
