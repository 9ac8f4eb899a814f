// Chat page of the SafeAI web sample. Plain script, no dependencies; all text is inserted with textContent.
(function () {
  'use strict';
  var log = document.getElementById('log');
  var form = document.getElementById('ask');
  var input = document.getElementById('message');
  var send = document.getElementById('send');
  var errorEl = document.getElementById('error');
  var conversationId = null;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  function scroll(node) { node.scrollIntoView({ block: 'nearest' }); }

  function post(url, body) {
    return fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (data) {
        // A rate-limited chat call (429) still carries a well-formed answer that says when to try again.
        if (!r.ok && !(r.status === 429 && data && data.answer)) { throw new Error((data && (data.detail || data.title)) || ('The server answered ' + r.status + '.')); }
        return data;
      });
    });
  }

  // The label says honestly where the text came from.
  function label(kind, reviewer, screening) {
    switch (kind) {
      case 'reviewed': return el('span', 'badge reviewed', 'Reviewed by a person' + (reviewer ? ' (' + reviewer + ')' : ''));
      case 'finished': return el('span', 'badge reviewed', 'Review finished: see below');
      case 'pending': return el('span', 'badge pending', 'Pending human review');
      case 'none': return el('span', 'badge none', 'Not AI-generated');
      case 'blocked': return el('span', 'badge blocked', screening || 'Blocked by a safeguard');
      case 'redacted': return el('span', 'badge redacted', screening || 'Redacted by a safeguard');
      default: return el('span', 'badge ai', 'AI-generated');
    }
  }

  function addUser(text) {
    var li = el('li', 'msg user');
    li.appendChild(el('p', 'who', 'You'));
    li.appendChild(el('p', 'text', text));
    log.appendChild(li);
    scroll(li);
  }

  function addAssistant(opts) {
    var li = el('li', 'msg assistant');
    li.setAttribute('data-kind', opts.kind);
    if (opts.arm) { li.setAttribute('data-arm', opts.arm); }
    var who = el('p', 'who');
    // The rollout's baseline is the bank's FAQ responder, not the AI assistant: say who answered.
    who.appendChild(el('span', null, opts.arm === 'baseline' ? 'FAQ responder' : 'Assistant'));
    if (opts.arm) {
      var arm = el('span', 'badge arm', opts.arm === 'baseline' ? 'Rollout: baseline arm' : 'Rollout: AI arm');
      arm.title = 'This conversation was assigned to the ' + (opts.arm === 'baseline' ? 'baseline (today\u2019s FAQ responder)' : 'new AI assistant') + ' by the gradual rollout; it stays there.';
      who.appendChild(arm);
    }
    // An answer a person approved is still the AI's text: it carries both labels.
    // A redacted answer is still the AI's text, with parts removed: it carries both labels too.
    if (opts.kind === 'reviewed' || opts.kind === 'redacted') { who.appendChild(label('ai')); }
    who.appendChild(label(opts.kind, opts.reviewer, opts.screening));
    li.appendChild(who);
    if (opts.notice) { li.appendChild(el('p', 'notice', opts.notice)); }
    li.appendChild(el('p', 'text answer', opts.answer));
    if (opts.comment) { li.appendChild(el('p', 'note', 'Reviewer\u2019s note: ' + opts.comment)); }
    if (opts.verdicts || opts.disclosure) {
      var details = el('details');
      details.appendChild(el('summary', null, 'What SafeAI checked'));
      var ul = el('ul');
      (opts.verdicts || []).forEach(function (v) {
        ul.appendChild(el('li', null, v.stage + ': ' + v.action + ' (' + v.reason + ')'));
      });
      if (opts.disclosure) {
        var li2 = el('li', null, 'AI-Disclosure: ');
        li2.appendChild(el('code', null, opts.disclosure.header));
        ul.appendChild(li2);
      }
      details.appendChild(ul);
      li.appendChild(details);
    }
    if (opts.responseId && opts.kind !== 'pending' && opts.kind !== 'blocked') { li.appendChild(feedback(opts.responseId, opts.ticketId)); }
    log.appendChild(li);
    scroll(li);
    return li;
  }

  function feedback(responseId, ticketId) {
    var box = el('div', 'feedback');
    box.appendChild(el('span', null, 'Was this helpful?'));
    var up = el('button', 'thumb', 'Thumbs up');
    var down = el('button', 'thumb', 'Thumbs down');
    up.type = 'button';
    down.type = 'button';
    up.title = 'Helpful';
    down.title = 'Not helpful';
    box.appendChild(up);
    box.appendChild(down);
    var thanks = el('span', 'thanks');
    thanks.setAttribute('role', 'status');

    function submit(rating, comment, button) {
      up.disabled = true;
      down.disabled = true;
      button.setAttribute('aria-pressed', 'true');
      post('/api/feedback', { responseId: responseId, rating: rating, comment: comment || null, reviewTicketId: ticketId || null, conversationId: conversationId })
        .then(function () { thanks.textContent = 'Thanks, your feedback was saved.'; })
        .catch(function (e) { thanks.textContent = 'Feedback not saved: ' + e.message; up.disabled = false; down.disabled = false; });
    }

    up.addEventListener('click', function () { submit('up', null, up); });
    down.addEventListener('click', function () {
      if (box.querySelector('textarea')) { return; }
      var id = 'fb-' + responseId + (ticketId || '');
      var l = el('label', 'visually-hidden', 'What was wrong? (optional)');
      l.setAttribute('for', id);
      var text = el('textarea');
      text.id = id;
      text.maxLength = 4000;
      text.placeholder = 'What was wrong? (optional)';
      var go = el('button', null, 'Send feedback');
      go.type = 'button';
      go.addEventListener('click', function () { go.disabled = true; text.disabled = true; submit('down', text.value, down); });
      box.appendChild(l);
      box.appendChild(text);
      box.appendChild(go);
      text.focus();
    });
    box.appendChild(thanks);
    return box;
  }

  function kindOf(data) {
    if (data.status === 'pending-review') { return 'pending'; }
    if (data.status === 'blocked' || data.status === 'rate-limited') { return 'blocked'; }
    if (data.status === 'redacted') { return 'redacted'; }
    if (data.disclosure && data.disclosure.mode === 'none') { return 'none'; }
    if (data.disclosure && data.disclosure.mode === 'ai-originated') { return 'reviewed'; }
    return 'ai';
  }

  function waitForReview(ticketId, responseId, pendingItem) {
    var url = '/api/chat/reviews/' + encodeURIComponent(ticketId) + '?conversationId=' + encodeURIComponent(conversationId);
    var timer = setInterval(function () {
      fetch(url, { headers: { 'Accept': 'application/json' } }).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
        if (!data || data.status === 'pending-review') { return; }
        clearInterval(timer);
        var badge = pendingItem.querySelector('.badge.pending');
        if (badge) { badge.replaceWith(label('finished')); }
        addAssistant({
          kind: data.status === 'reviewed' ? 'reviewed' : 'none',
          reviewer: data.reviewedBy,
          answer: data.answer,
          comment: data.comment,
          disclosure: data.disclosure,
          responseId: data.status === 'reviewed' ? responseId : null,
          ticketId: ticketId
        });
      }).catch(function () { /* keep polling */ });
    }, 1500);
  }

  function ask(text) {
    errorEl.textContent = '';
    addUser(text);
    send.disabled = true;
    post('/api/chat', { message: text, conversationId: conversationId }).then(function (data) {
      conversationId = data.conversationId;
      var item = addAssistant({
        kind: kindOf(data),
        notice: data.notice,
        answer: data.answer,
        verdicts: data.verdicts,
        disclosure: data.disclosure,
        screening: data.screening && data.screening.label,
        arm: data.arm,
        responseId: data.responseId,
        ticketId: data.review && data.review.ticketId
      });
      if (data.status === 'pending-review' && data.review) { waitForReview(data.review.ticketId, data.responseId, item); }
    }).catch(function (e) {
      errorEl.textContent = 'Your question could not be sent: ' + e.message;
    }).then(function () { send.disabled = false; input.focus(); });
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    input.value = '';
    ask(text);
  });
  Array.prototype.forEach.call(document.querySelectorAll('.chip'), function (chip) {
    chip.addEventListener('click', function () { ask(chip.textContent); });
  });
})();
