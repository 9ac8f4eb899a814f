// SafeAI consent page: shows the person's choice for each purpose and saves a change as soon as it is made.
// Plain script, no dependencies. All text from the server is inserted with textContent, never as HTML.
(function () {
  'use strict';
  var base = document.body.getAttribute('data-base') || '';
  var form = document.getElementById('choices');
  var messageEl = document.getElementById('message');

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

  function api(path, body) {
    var init = { headers: { 'X-Requested-With': 'XMLHttpRequest', 'Accept': 'application/json' }, credentials: 'same-origin' };
    if (body !== undefined) {
      init.method = 'PUT';
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(base + path, init).then(function (r) {
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        if (r.ok) { return data; }
        throw new Error((data && (data.detail || data.title)) || ('The server answered ' + r.status + '.'));
      });
    });
  }

  function stateText(p) {
    if (p.choice === 'granted') { return 'You said yes' + when(p.changedAt) + '.'; }
    if (p.choice === 'declined') { return 'You said no' + when(p.changedAt) + '.'; }
    return p['default'] === 'opt-in' ? 'You have not decided: this stays off until you say yes.' : 'You have not decided: this is on until you say no.';
  }

  function when(at) {
    if (!at) { return ''; }
    var d = new Date(at);
    return isNaN(d.getTime()) ? '' : ' on ' + d.toLocaleString();
  }

  function radio(p, value, label) {
    var id = 'c-' + p.purpose + '-' + value;
    var wrap = el('label');
    wrap.setAttribute('for', id);
    var input = el('input');
    input.type = 'radio';
    input.name = p.purpose;
    input.id = id;
    input.value = value;
    input.checked = (value === 'yes') === p.permitted;
    input.addEventListener('change', function () { save(p.purpose, value === 'yes'); });
    wrap.appendChild(input);
    wrap.appendChild(document.createTextNode(label));
    return wrap;
  }

  function render(purposes) {
    form.textContent = '';
    purposes.forEach(function (p) {
      var set = el('fieldset');
      set.setAttribute('data-purpose', p.purpose);
      set.appendChild(el('legend', null, p.title));
      set.appendChild(el('p', null, p.description));
      var options = el('div', 'options');
      options.appendChild(radio(p, 'yes', 'Yes'));
      options.appendChild(radio(p, 'no', 'No'));
      set.appendChild(options);
      set.appendChild(el('div', 'state ' + (p.choice || 'undecided'), stateText(p)));
      form.appendChild(set);
    });
  }

  function setBusy(busy) {
    Array.prototype.forEach.call(form.querySelectorAll('input'), function (i) { i.disabled = busy; });
  }

  function save(purpose, granted) {
    setBusy(true);
    say('Saving…');
    api('/api/choices/' + encodeURIComponent(purpose), { granted: granted }).then(function (data) {
      render(data.purposes);
      say('Saved: ' + data.changed.title.toLowerCase() + ' \u2014 ' + (granted ? 'yes' : 'no') + '.');
    }).catch(function (e) {
      say(e.message, true);
      load(true);
    });
  }

  function load(keepMessage) {
    api('/api/choices').then(function (data) {
      render(data.purposes);
      if (!keepMessage) { say(''); }
    }).catch(function (e) { say(e.message, true); });
  }

  load(false);
}());
