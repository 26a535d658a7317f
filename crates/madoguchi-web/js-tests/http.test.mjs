import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chat } from './load.mjs';

/** A fetch that records its calls and answers `status` with `body` (or fails to connect). */
function fakeFetch(status, body) {
  const calls = [];
  const fn = (url, init) => {
    calls.push({ url, init });
    if (status === null) return Promise.reject(new TypeError('Failed to fetch'));
    const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    return Promise.resolve({
      ok: status >= 200 && status < 300, status, statusText: status === 409 ? 'Conflict' : 'OK',
      text: () => Promise.resolve(text)
    });
  };
  fn.calls = calls;
  return fn;
}

const consoleLike = (fetch) => chat.requester({
  base: '/chat/api/v1/portals/acme', lang: 'ja', csrf: 'tok', credentials: 'same-origin',
  offline: 'ネットワークに接続できません', failed: (res) => res.status + ' ' + res.statusText, fetch
});
const widgetLike = (fetch) => chat.requester({
  base: 'https://chat.example.com/chat/widget/v1/acme', lang: 'en', mode: 'cors', credentials: 'omit',
  offline: 'Something went wrong.', failed: () => 'Something went wrong.', fetch
});

test('a JSON body, the language, and the CSRF token on unsafe methods only', async () => {
  const fetch = fakeFetch(201, { seq: 3 });
  const request = consoleLike(fetch);
  assert.deepEqual(await request('POST', '/chats/c1/messages', { text: 'hi' }), { seq: 3 });
  await request('GET', '/chats');
  const [post, get] = fetch.calls;
  assert.equal(post.url, '/chat/api/v1/portals/acme/chats/c1/messages');
  assert.equal(post.init.method, 'POST');
  assert.equal(post.init.credentials, 'same-origin');
  assert.deepEqual(post.init.headers, { 'Accept-Language': 'ja', 'X-CSRF-Token': 'tok', 'Content-Type': 'application/json' });
  assert.equal(post.init.body, '{"text":"hi"}');
  assert.equal(post.init.mode, undefined);
  assert.deepEqual(get.init.headers, { 'Accept-Language': 'ja' });
  assert.equal(get.init.body, undefined);
});

test('the widget sends its token as a Bearer header, cross-origin without cookies', async () => {
  const fetch = fakeFetch(200, '');
  const request = widgetLike(fetch);
  assert.equal(await request('POST', '/chats/c1/leave', undefined, 'vtok'), null, 'an empty answer is null');
  const { url, init } = fetch.calls[0];
  assert.equal(url, 'https://chat.example.com/chat/widget/v1/acme/chats/c1/leave');
  assert.deepEqual(init.headers, { 'Accept-Language': 'en', Authorization: 'Bearer vtok' });
  assert.equal(init.mode, 'cors');
  assert.equal(init.credentials, 'omit');
});

test('an error answer becomes an Error with its status, code, field and message', async () => {
  const request = consoleLike(fakeFetch(400, { error: { code: 'invalid_request', message: 'メールアドレスが正しくありません', field: 'email' } }));
  await assert.rejects(request('PATCH', '/visitors/v1', {}), (err) => {
    assert.equal(err.message, 'メールアドレスが正しくありません');
    assert.equal(err.status, 400);
    assert.equal(err.code, 'invalid_request');
    assert.equal(err.field, 'email');
    return true;
  });
});

test('an error without a message says what the client chose', async () => {
  await assert.rejects(consoleLike(fakeFetch(409, '<html>'))('POST', '/x'), { message: '409 Conflict', status: 409 });
  await assert.rejects(widgetLike(fakeFetch(502, ''))('GET', '/config'), { message: 'Something went wrong.', status: 502 });
});

test('an unreachable server is status 0 with words people understand', async () => {
  await assert.rejects(consoleLike(fakeFetch(null))('GET', '/me'), (err) => {
    assert.equal(err.status, 0);
    assert.equal(err.message, 'ネットワークに接続できません');
    return true;
  });
});

test('parseJson and apiError', () => {
  assert.equal(chat.parseJson(''), null);
  assert.equal(chat.parseJson('{oops'), null);
  assert.deepEqual(chat.parseJson('{"a":1}'), { a: 1 });
  const err = chat.apiError(429, { error: { code: 'rate_limited' } }, 'fallback');
  assert.equal(err.message, 'fallback');
  assert.equal(err.code, 'rate_limited');
});
