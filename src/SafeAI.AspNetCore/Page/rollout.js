// SafeAI rollout operator page: shows the rollout's stage and per-arm metrics, and sends operator commands.
// Plain script, no dependencies. All text from the server is inserted with textContent, never as HTML.
(function () {
  'use strict';
  var base = document.body.getAttribute('data-base') || '';
  var messageEl = document.getElementById('message');
  var reasonEl = document.getElementById('reason');
  var buttons = ['stop', 'resume', 'pause', 'promote', 'abort'];
  var busy = false;

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) { e.className = className; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }

  function say(text, isError) {
    messageEl.textContent = text || '';
    messageEl.className = isError ? 'message error' : 'message';
  }

  function pct(x) { return (x === null || x === undefined) ? '–' : (100 * x).toFixed(2) + ' %'; }

  function api(path, body) {
    var init = { headers: { 'X-Requested-With': 'XMLHttpRequest', 'Accept': 'application/json' }, credentials: 'same-origin' };
    if (body !== undefined) {
      init.method = 'POST';
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(base + path, init).then(function (r) {
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        if (r.ok) { return data; }
        var message = (data && (data.detail || data.title)) || ('The server answered ' + r.status + '.');
        if (r.status === 401) { message = 'You are not signed in (or your sign-in expired). Reload the page to sign in.'; }
        if (r.status === 403) { message = 'You are signed in, but your account may not operate this rollout.'; }
        throw new Error(message);
      });
    });
  }

  function armCell(arm) {
    var td = el('td');
    td.appendChild(el('strong', null, arm.rate === null ? 'no calls yet' : pct(arm.rate)));
    td.appendChild(el('span', 'ci', arm.events + ' of ' + arm.samples + (arm.samples > 0 ? ', 95 % CI ' + pct(arm.lower) + ' – ' + pct(arm.upper) : '')));
    if (arm.samples > 0) {
      var bar = el('div', 'bar');
      var span = el('span');
      span.style.left = (100 * arm.lower).toFixed(2) + '%';
      span.style.width = Math.max(0.5, 100 * (arm.upper - arm.lower)).toFixed(2) + '%';
      bar.appendChild(span);
      td.appendChild(bar);
    }
    return td;
  }

  function render(state) {
    document.getElementById('name').textContent = state.name;
    var badge = document.getElementById('status-badge');
    var status = state.killSwitch ? 'stopped' : state.status;
    badge.textContent = status + (state.killSwitch ? ' (kill switch in configuration)' : '');
    badge.className = 'badge ' + status;
    document.getElementById('share').textContent = state.aiPercent + ' % of users on the AI arm';
    document.getElementById('started').textContent = new Date(state.stageStartedAt).toLocaleString();

    var stages = document.getElementById('stages');
    stages.textContent = '';
    state.stages.forEach(function (s, i) {
      var li = el('li', i < state.stageIndex ? 'done' : (i === state.stageIndex ? 'current' : ''), s.percent + ' %');
      li.title = 'at least ' + s.minDurationHours + ' h and ' + s.minSamplesPerArm + ' calls per arm';
      if (i === state.stageIndex) { li.setAttribute('aria-current', 'step'); }
      stages.appendChild(li);
    });

    var judged = {};
    if (state.lastEvaluation) {
      state.lastEvaluation.metrics.forEach(function (m) { judged[m.metric] = m; });
    }

    var body = document.getElementById('metrics');
    body.textContent = '';
    state.metrics.forEach(function (m) {
      var tr = el('tr');
      tr.setAttribute('data-metric', m.metric);
      tr.appendChild(el('th', null, m.metric));
      tr.appendChild(armCell(m.ai));
      tr.appendChild(armCell(m.baseline));
      var j = judged[m.metric];
      var text = 'not judged yet';
      var cls = 'judge';
      if (j) {
        text = 'difference ' + pct(j.difference) + (j.lower !== null ? ' in [' + pct(j.lower) + ', ' + pct(j.upper) + ']' : '');
        if (j.degraded) { text += ': significantly worse'; cls += ' degraded'; } else if (j.withinMargin) { text += ': within the stage margin'; cls += ' within'; }
      }
      tr.appendChild(el('td', cls, text));
      body.appendChild(tr);
    });

    var lat = state.latencyP95Ms;
    document.getElementById('latency').textContent = 'Latency p95: AI ' + (lat.ai === null ? '–' : lat.ai.toFixed(1) + ' ms') +
      ', baseline ' + (lat.baseline === null ? '–' : lat.baseline.toFixed(1) + ' ms') + '.';

    var history = document.getElementById('history');
    history.textContent = '';
    if (state.history.length === 0) { history.appendChild(el('li', null, 'No decision yet.')); }
    state.history.forEach(function (d) {
      var li = el('li');
      li.appendChild(el('strong', null, d.kind + (d.automatic ? ' (judge)' : '')));
      li.appendChild(document.createTextNode(' at ' + d.stagePercent + ' %: ' + d.reason + ' '));
      li.appendChild(el('span', 'when', new Date(d.at).toLocaleString()));
      history.appendChild(li);
    });

    document.getElementById('stop').disabled = busy || status === 'stopped';
    document.getElementById('resume').disabled = busy || !(status === 'stopped' || status === 'paused') || state.killSwitch;
    document.getElementById('pause').disabled = busy || status !== 'running';
    document.getElementById('promote').disabled = busy || !(status === 'running' || status === 'paused');
    document.getElementById('abort').disabled = busy || status === 'aborted';
  }

  function refresh() {
    return api('/api/state').then(render).catch(function (e) { say(e.message, true); });
  }

  buttons.forEach(function (command) {
    document.getElementById(command).addEventListener('click', function () {
      var reason = reasonEl.value.trim();
      if (!reason) { say('Say why first: the reason is recorded with the decision.', true); reasonEl.focus(); return; }
      if (command === 'stop' && !window.confirm('Send every user to the baseline now?')) { return; }
      busy = true;
      api('/api/' + command, { reason: reason }).then(function (result) {
        busy = false;
        reasonEl.value = '';
        say(result.decision.kind === 'continue' ? 'Nothing changed: ' + result.decision.reason : 'Done: ' + result.decision.kind + '. ' + result.decision.reason);
        return refresh();
      }).catch(function (e) { busy = false; say(e.message, true); });
    });
  });

  refresh();
  window.setInterval(refresh, 5000);
}());
