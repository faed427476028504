/**
 * A minimal chat plugin widget as a website would embed it: plain JS, no build step, the
 * socket.io browser client from a script tag. The page reads `hub` and `channel` from its query
 * string. It exposes its state to the test through the DOM only:
 *
 * - `#chat[data-state]`: `starting`, `ready` (authenticated, history shown) or `error`;
 *   `#chat[data-conversation-id]`, `#chat[data-socket]` (`connected` once /ws.chatplugin is up);
 * - `#messages li` with `data-id` and `data-from-contact` (`true` for the visitor's messages);
 * - `#error`: the last failure, as text.
 *
 * Sends carry an Idempotency-Key, as a widget that retries must: the hub's CORS answer has to allow it.
 *
 * The script is kept free of backticks and `${` so it can live in this template string as is.
 */
export const WIDGET_SCRIPT_PATH = '/socket.io.min.js';

export const WIDGET_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Chat widget</title>
<style>
  #messages li.from-contact { text-align: right; }
  #error { color: #b00020; }
</style>
</head>
<body>
<section id="chat" data-state="starting" data-conversation-id="" data-socket="">
  <ul id="messages"></ul>
  <form id="composer">
    <input id="text" name="text" autocomplete="off" aria-label="Message">
    <button type="submit">Send</button>
  </form>
  <p id="error" role="alert" hidden></p>
</section>
<script src="${WIDGET_SCRIPT_PATH}"></script>
<script>
(function () {
  'use strict';
  var params = new URLSearchParams(location.search);
  var hub = params.get('hub') || '';
  var channelId = params.get('channel') || '';
  var resumeKey = 'chat-resume:' + channelId;
  var root = document.getElementById('chat');
  var list = document.getElementById('messages');
  var form = document.getElementById('composer');
  var input = document.getElementById('text');
  var errorBox = document.getElementById('error');
  var seen = new Set();
  var token = null;

  function showError(where, err) {
    errorBox.hidden = false;
    errorBox.textContent = where + ': ' + (err && err.message ? err.message : String(err));
    root.dataset.state = 'error';
  }

  async function post(path, body, bearer, idempotencyKey) {
    var headers = { 'content-type': 'application/json' };
    if (bearer) headers.authorization = 'Bearer ' + bearer;
    if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
    var res = await fetch(hub + path, { method: 'POST', headers: headers, body: JSON.stringify(body) });
    var data = await res.json().catch(function () { return {}; });
    if (!res.ok) throw new Error(path + ' answered ' + res.status + ' ' + (data.code || '') + ' ' + (data.error || ''));
    return data;
  }

  // History, the socket and the send answer can all carry the same message: show it once.
  function show(message) {
    if (!message || seen.has(message.id)) return;
    seen.add(message.id);
    var item = document.createElement('li');
    item.dataset.id = message.id;
    item.dataset.fromContact = String(message.from_contact === true);
    item.className = message.from_contact ? 'from-contact' : 'from-agent';
    item.textContent = message.content && message.content.text ? message.content.text : '';
    list.appendChild(item);
  }

  async function start() {
    var resume = localStorage.getItem(resumeKey);
    var auth = await post('/chatplugin.authenticate', resume ? { resume_token: resume } : { channel_id: channelId });
    token = auth.token;
    var renewed = await post('/chatplugin.resumeToken', {}, token);
    localStorage.setItem(resumeKey, renewed.resume_token);
    root.dataset.conversationId = auth.conversation_id;
    auth.messages.forEach(show);
    var socket = io(hub + '/ws.chatplugin', { auth: { token: token }, transports: ['websocket'] });
    socket.on('connect', function () { root.dataset.socket = 'connected'; });
    socket.on('disconnect', function () { root.dataset.socket = 'disconnected'; });
    socket.on('connect_error', function (err) { showError('socket', err); });
    socket.on('error', function (e) { showError('socket', new Error(e.code + ' ' + e.message)); });
    socket.on('message', function (event) { show(event.message); });
    root.dataset.state = 'ready';
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text || !token) return;
    input.value = '';
    // One key per message, so a retry of this send (same key) could never store it twice.
    post('/chatplugin.send', { message: { text: text } }, token, crypto.randomUUID())
      .then(show)
      .catch(function (err) { showError('send', err); });
  });

  start().catch(function (err) { showError('start', err); });
})();
</script>
</body>
</html>
`;
