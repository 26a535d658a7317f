import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chat } from './load.mjs';
import { Document } from './dom.mjs';

test('esc escapes the five characters that matter in HTML', () => {
  assert.equal(chat.esc(`<a href="x">Tom & 'Jerry'</a>`),
    '&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;');
  assert.equal(chat.esc(42), '42');
});

test('fill puts arguments in literally, every time they appear', () => {
  assert.equal(chat.fill('{name} さんからチャットが転送されました', { name: '鈴木' }), '鈴木 さんからチャットが転送されました');
  assert.equal(chat.fill('Ticket number: #{n}', { n: 104 }), 'Ticket number: #104');
  // String.replace would read `$&` as "the match".
  assert.equal(chat.fill('Hello {name}', { name: '$& $1' }), 'Hello $& $1');
  assert.equal(chat.fill('{a}{a}', { a: 'x' }), 'xx');
  assert.equal(chat.fill('no placeholders', {}), 'no placeholders');
});

test('fileSize speaks in B, KB and MB', () => {
  assert.equal(chat.fileSize(0), '0 B');
  assert.equal(chat.fileSize(1023), '1023 B');
  assert.equal(chat.fileSize(1536), '2 KB');
  assert.equal(chat.fileSize(1048576 * 1.5), '1.5 MB');
  assert.equal(chat.fileSize(1048576 * 12.4), '12 MB');
});

test('clock shows local hours and minutes, nothing for a non-time', () => {
  const d = new Date(2026, 0, 2, 9, 5);
  assert.equal(chat.clock(d.toISOString()), '09:05');
  assert.equal(chat.clock('not a time'), '');
  assert.match(chat.clock(), /^\d\d:\d\d$/);
});

test('inline images are the four picture types', () => {
  assert.ok(chat.isInlineImage('image/png'));
  assert.ok(chat.isInlineImage('image/webp'));
  assert.ok(!chat.isInlineImage('image/svg+xml'), 'SVG can carry script: a download');
  assert.ok(!chat.isInlineImage('application/pdf'));
});

test('linkParts finds http, https and mailto links, without trailing punctuation', () => {
  assert.deepEqual(chat.linkParts('see https://example.com/a?b=1. ok'), [
    { text: 'see ' },
    { text: 'https://example.com/a?b=1', href: 'https://example.com/a?b=1' },
    { text: '. ok' }
  ]);
  assert.deepEqual(chat.linkParts('mail mailto:info@example.jp'), [
    { text: 'mail ' },
    { text: 'mailto:info@example.jp', href: 'mailto:info@example.jp' }
  ]);
  // Japanese punctuation ends a link.
  assert.deepEqual(chat.linkParts('こちら https://example.jp/料金。'), [
    { text: 'こちら ' },
    { text: 'https://example.jp/料金', href: 'https://example.jp/%E6%96%99%E9%87%91' },
    { text: '。' }
  ]);
  assert.deepEqual(chat.linkParts('javascript:alert(1) and ftp://x'), [{ text: 'javascript:alert(1) and ftp://x' }]);
  assert.deepEqual(chat.linkParts(null), []);
});

test('linkify builds text nodes and safe links, never HTML', () => {
  const doc = new Document();
  const b = doc.createElement('div');
  chat.linkify(b, '<b>hi</b> http://a.example/x');
  assert.equal(b.childNodes.length, 2);
  assert.equal(b.childNodes[0].textContent, '<b>hi</b> ');
  const a = b.childNodes[1];
  assert.equal(a.tagName, 'A');
  assert.equal(a.href, 'http://a.example/x');
  assert.equal(a.target, '_blank');
  assert.equal(a.rel, 'noopener noreferrer');
});

test('Enter sends; Shift+Enter and an IME confirming do not', () => {
  assert.ok(chat.isSendKey({ key: 'Enter' }));
  assert.ok(!chat.isSendKey({ key: 'Enter', shiftKey: true }));
  assert.ok(!chat.isSendKey({ key: 'Enter', isComposing: true }));
  assert.ok(!chat.isSendKey({ key: 'Enter', keyCode: 229 }));
  assert.ok(!chat.isSendKey({ key: 'a' }));
});

test('typing signals: at most one every interval, only with text', () => {
  const t = chat.typingThrottle(2000);
  assert.ok(!t.due(10000, '   '), 'blank text says nothing');
  assert.ok(t.due(10000, 'h'));
  assert.ok(!t.due(11000, 'he'));
  assert.ok(!t.due(12000, 'hel'), 'exactly the interval is not more than it');
  assert.ok(t.due(12001, 'hell'));
  t.reset();
  assert.ok(t.due(12002, 'x'), 'after sending, the next keystroke tells again');
});

test('newId gives distinct ids', () => {
  const ids = new Set(Array.from({ length: 50 }, () => chat.newId()));
  assert.equal(ids.size, 50);
});

test('fileLabel names a download and says its size', () => {
  const doc = new Document();
  const link = doc.createElement('a');
  chat.fileLabel(link, { name: '見積書.pdf', size: 2048 });
  assert.deepEqual(link.children.map((n) => [n.className, n.textContent]), [['file-name', '見積書.pdf'], ['file-size', '2 KB']]);
});
