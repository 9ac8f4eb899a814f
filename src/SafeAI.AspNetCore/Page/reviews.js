// SafeAI reviewers' page: lists review items and lets a reviewer claim, approve, edit or reject them.
// Plain script, no dependencies. All item text is inserted with textContent, never as HTML.
(function () {
  'use strict';
  var base = document.body.getAttribute('data-base') || '';
  var list = document.getElementById('items');
  var statusEl = document.getElementById('status');
  var emptyEl = document.getElementById('empty');
  var filter = document.getElementById('filter');
  var busy = false;

  var stateLabels = {
    pending: 'Pending human review', claimed: 'Claimed', escalated: 'Escalated (second tier)',
    approved: 'Approved', edited: 'Edited and approved', rejected: 'Rejected', expired: 'Expired (nobody decided in time)'
  };

  function say(text, isError) {
    statusEl.textContent = text || '';
    statusEl.className = isError ? 'status error' : 'status';
  }

  function api(path, body) {
    var init = { headers: { 'X-Requested-With': 'XMLHttpRequest', 'Accept': 'application/json' }, credentials: 'same-origin' };
    if (body !== undefined) {
      init.method = 'POST';
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(base + path, init).then(function (r) {
      if (r.status === 204) { return null; }
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        if (r.ok) { return data; }
        var message = (data && (data.detail || data.title)) || ('The server answered ' + r.status + '.');
        if (r.status === 401) { message = 'You are not signed in (or your sign-in expired). Reload the page to sign in as a reviewer.'; }
        if (r.status === 403) { message = 'You are signed in, but your account is not allowed to review answers.'; }
        var err = new Error(message);
        err.status = r.status;
        throw err;
      });
    });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  function when(iso) {
    if (!iso) { return ''; }
    var d = new Date(iso);
    return d.toLocaleString();
  }

  function render(items) {
    list.textContent = '';
    emptyEl.hidden = items.length > 0;
    emptyEl.textContent = filter.value === 'open' ? 'Nothing is waiting for review.' : 'No decided items yet.';
    items.forEach(function (item) { list.appendChild(card(item)); });
  }

  function card(item) {
    var li = el('li', 'item');
    li.setAttribute('data-id', item.id);
    li.setAttribute('data-state', item.state);
    var h = el('h2');
    h.appendChild(el('span', null, 'Ticket ' + item.id.slice(-8)));
    h.appendChild(el('span', 'badge ' + item.state, stateLabels[item.state] || item.state));
    if (item.riskTier && item.riskTier !== 'Unspecified' && item.riskTier !== 'Low') { h.appendChild(el('span', 'badge risk', item.riskTier + ' risk')); }
    li.appendChild(h);
    var meta = 'Created ' + when(item.createdAt);
    if (item.state === 'claimed' && item.claimedBy) { meta += ' · claimed by ' + item.claimedBy; }
    if (item.reviewerId) { meta += ' · decided by ' + item.reviewerId + ' on ' + when(item.decidedAt); }
    else if (item.expiresAt && (item.state === 'pending' || item.state === 'claimed' || item.state === 'escalated')) { meta += ' · due ' + when(item.expiresAt); }
    if (item.userId) { meta += ' · user ' + item.userId; }
    li.appendChild(el('p', 'meta', meta));

    var question = item.request.filter(function (m) { return m.role === 'user'; });
    li.appendChild(el('p', 'label', 'What the user asked'));
    li.appendChild(el('p', 'text question', question.length ? question[question.length - 1].text : '(no user message recorded)'));
    li.appendChild(el('p', 'label', 'AI-generated proposed answer'));
    li.appendChild(el('p', 'text answer', item.proposedAnswer));
    if (item.textWithheld) {
      li.appendChild(el('p', 'withheld', 'This person declined human review: their words and the proposed answer are not shown to anyone. Decide from the reasons below: reject it (a person follows up), or write an answer yourself.'));
    }
    if (item.state === 'edited' && item.finalAnswer) {
      li.appendChild(el('p', 'label', 'Answer as edited by the reviewer'));
      li.appendChild(el('p', 'text answer', item.finalAnswer));
    }
    if (item.comment) {
      li.appendChild(el('p', 'label', 'Reviewer comment'));
      li.appendChild(el('p', 'text', item.comment));
    }
    var reasons = (item.triggers || []).map(function (t) { return 'Trigger: ' + t; });
    (item.verdicts || []).forEach(function (v) {
      if (v.action !== 'allow') { reasons.push(v.stage + ': ' + v.action + ' (' + v.reason + (v.score != null ? ', score ' + v.score : '') + ')'); }
    });
    if (reasons.length) {
      li.appendChild(el('p', 'label', 'Why it needs review'));
      var ul = el('ul', 'reasons');
      reasons.forEach(function (r) { ul.appendChild(el('li', null, r)); });
      li.appendChild(ul);
    }
    if (item.state === 'pending' || item.state === 'claimed' || item.state === 'escalated') { li.appendChild(actions(item)); }
    return li;
  }

  function actions(item) {
    var wrap = el('div');
    var commentId = 'comment-' + item.id;
    var label = el('label', 'label', 'Comment (optional, kept with the decision)');
    label.setAttribute('for', commentId);
    var comment = el('textarea');
    comment.id = commentId;
    comment.rows = 2;
    wrap.appendChild(label);
    wrap.appendChild(comment);

    var row = el('div', 'actions');
    var approve = el('button', 'approve', 'Approve answer');
    var edit = el('button', null, 'Edit answer…');
    var reject = el('button', 'reject', 'Reject answer');
    [approve, edit, reject].forEach(function (b) { b.type = 'button'; row.appendChild(b); });
    if (item.textWithheld) { approve.disabled = true; approve.title = 'There is no answer to approve: it was withheld.'; }
    if (item.state !== 'claimed') {
      var claim = el('button', null, 'Claim (I am working on it)');
      claim.type = 'button';
      claim.addEventListener('click', function () { act(item, '/api/items/' + encodeURIComponent(item.id) + '/claim', { version: item.version }, 'Claimed.'); });
      row.appendChild(claim);
    }
    wrap.appendChild(row);

    approve.addEventListener('click', function () {
      decide(item, { decision: 'approve', comment: comment.value }, 'Approved. The user now sees the answer, marked as reviewed by you.');
    });
    reject.addEventListener('click', function () {
      decide(item, { decision: 'reject', comment: comment.value }, 'Rejected. The user is told that a person will follow up.');
    });
    edit.addEventListener('click', function () {
      if (wrap.querySelector('.edit')) { return; }
      var box = el('div', 'edit');
      var editId = 'edit-' + item.id;
      var l = el('label', 'label', 'Edited answer (the user gets this text instead)');
      l.setAttribute('for', editId);
      var text = el('textarea');
      text.id = editId;
      text.rows = 5;
      text.value = item.textWithheld ? '' : item.proposedAnswer;
      var save = el('button', 'approve', 'Save edited answer');
      var cancel = el('button', null, 'Cancel');
      save.type = 'button';
      cancel.type = 'button';
      save.addEventListener('click', function () {
        decide(item, { decision: 'edit', editedAnswer: text.value, comment: comment.value }, 'Edited. The user now sees your version, marked as reviewed by you.');
      });
      cancel.addEventListener('click', function () { box.remove(); edit.focus(); });
      var r = el('div', 'actions');
      r.appendChild(save);
      r.appendChild(cancel);
      box.appendChild(l);
      box.appendChild(text);
      box.appendChild(r);
      wrap.appendChild(box);
      text.focus();
    });
    return wrap;
  }

  function decide(item, body, done) {
    body.version = item.version;
    act(item, '/api/items/' + encodeURIComponent(item.id) + '/decision', body, done);
  }

  function act(item, path, body, done) {
    busy = true;
    say('Saving…');
    api(path, body).then(function () {
      busy = false;
      return load().then(function () { say(done); });
    }).catch(function (e) {
      busy = false;
      say(e.message, true);
      if (e.status === 409 || e.status === 404) { load(); }
    });
  }

  function load() {
    return api('/api/items?state=' + encodeURIComponent(filter.value) + '&pageSize=100').then(function (page) {
      render(page.items);
    }).catch(function (e) { say(e.message, true); });
  }

  function editing() {
    return busy || !!list.querySelector('.edit') || (document.activeElement && document.activeElement.tagName === 'TEXTAREA');
  }

  document.getElementById('refresh').addEventListener('click', function () { say(''); load(); });
  filter.addEventListener('change', function () { say(''); load(); });
  api('/api/me').then(function (me) {
    document.getElementById('who').textContent = 'Signed in as reviewer: ' + me.reviewerId;
  }).catch(function (e) { say(e.message, true); });
  load();
  setInterval(function () { if (!editing() && !document.hidden) { load(); } }, 5000);
})();
