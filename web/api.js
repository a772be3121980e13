// api.js: where the dashboard's data comes from. Live: the server's JSON API and its
// server-sent-event stream. In a report: window.MOESCOPE_STATIC, the same responses
// precomputed by `moescope report` and keyed by apiKey(path, params).
'use strict';

const MoeApi = (() => {
  const staticData = window.MOESCOPE_STATIC || null;

  // The report's key of a request: path, then the parameters other than `run`, sorted.
  function apiKey(path, params) {
    const keys = Object.keys(params || {}).filter((k) => k !== 'run').sort();
    return path + '?' + keys.map((k) => k + '=' + params[k]).join('&');
  }

  async function get(path, params) {
    if (staticData) {
      const key = apiKey(path, params);
      if (!(key in staticData.responses)) throw new Error('not in this report: ' + key);
      return staticData.responses[key];
    }
    const qs = new URLSearchParams(params || {}).toString();
    const res = await fetch(path + (qs ? '?' + qs : ''));
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || res.statusText);
    return body;
  }

  // Calls onRuns(runs) whenever the server reports a change; onState(connected).
  function subscribe(onRuns, onState) {
    if (staticData || !window.EventSource) return;
    const es = new EventSource('/api/stream');
    es.onopen = () => onState(true);
    es.onerror = () => onState(false);
    es.onmessage = (ev) => {
      try {
        onRuns(JSON.parse(ev.data).runs);
      } catch (e) {
        console.warn('bad event', e);
      }
    };
  }

  return { get, subscribe, apiKey, isStatic: !!staticData };
})();
