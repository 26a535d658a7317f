// A document just big enough for the chat client's DOM code: elements in a tree with
// attributes, classes and text; `querySelector` takes one `.class` or one tag name.

class Text {
  constructor(doc, text) {
    this.ownerDocument = doc;
    this.nodeType = 3;
    this.parentNode = null;
    this.data = String(text);
  }
  get textContent() { return this.data; }
}

class ClassList {
  constructor(el) { this.el = el; }
  names() { return this.el.className.split(/\s+/).filter(Boolean); }
  contains(name) { return this.names().includes(name); }
  add(name) { if (!this.contains(name)) this.el.className = [...this.names(), name].join(' '); }
  remove(name) { this.el.className = this.names().filter((n) => n !== name).join(' '); }
  toggle(name, on) {
    const want = on === undefined ? !this.contains(name) : on;
    if (want) this.add(name); else this.remove(name);
    return want;
  }
}

export class Element {
  constructor(doc, tag) {
    this.ownerDocument = doc;
    this.nodeType = 1;
    this.tagName = tag.toUpperCase();
    this.parentNode = null;
    this.childNodes = [];
    this.attributes = new Map();
    this.className = '';
    this.classList = new ClassList(this);
  }
  get children() { return this.childNodes.filter((n) => n.nodeType === 1); }
  get firstElementChild() { return this.children[0] || null; }
  get lastElementChild() { const c = this.children; return c[c.length - 1] || null; }
  sibling(step) {
    if (!this.parentNode) return null;
    const c = this.parentNode.children;
    return c[c.indexOf(this) + step] || null;
  }
  get nextElementSibling() { return this.sibling(1); }
  get previousElementSibling() { return this.sibling(-1); }
  getAttribute(name) { return this.attributes.has(name) ? this.attributes.get(name) : null; }
  setAttribute(name, value) { this.attributes.set(name, String(value)); }
  removeAttribute(name) { this.attributes.delete(name); }
  hasAttribute(name) { return this.attributes.has(name); }
  appendChild(node) { return this.insertBefore(node, null); }
  insertBefore(node, ref) {
    if (node.parentNode) node.parentNode.removeChild(node);
    const at = ref ? this.childNodes.indexOf(ref) : this.childNodes.length;
    if (at < 0) throw new Error('insertBefore: not a child');
    this.childNodes.splice(at, 0, node);
    node.parentNode = this;
    return node;
  }
  removeChild(node) {
    const at = this.childNodes.indexOf(node);
    if (at < 0) throw new Error('removeChild: not a child');
    this.childNodes.splice(at, 1);
    node.parentNode = null;
    return node;
  }
  get textContent() { return this.childNodes.map((n) => n.textContent).join(''); }
  set textContent(text) {
    this.childNodes.forEach((n) => { n.parentNode = null; });
    this.childNodes = text === '' ? [] : [new Text(this.ownerDocument, text)];
  }
  matches(sel) {
    return sel.startsWith('.') ? this.classList.contains(sel.slice(1)) : this.tagName === sel.toUpperCase();
  }
  querySelector(sel) {
    for (const child of this.children) {
      if (child.matches(sel)) return child;
      const deeper = child.querySelector(sel);
      if (deeper) return deeper;
    }
    return null;
  }
}

export class Document {
  createElement(tag) { return new Element(this, tag); }
  createTextNode(text) { return new Text(this, text); }
}

/** A pane holding bubbles with these seqs (null: no seq yet, still sending). */
export function paneWith(doc, seqs) {
  const pane = doc.createElement('div');
  for (const seq of seqs) {
    const el = doc.createElement('div');
    if (seq !== null) el.setAttribute('data-seq', String(seq));
    el.setAttribute('data-name', seq === null ? 'pending' : String(seq));
    pane.appendChild(el);
  }
  return pane;
}

/** The names of a pane's bubbles, in order. */
export function order(pane) {
  return pane.children.map((el) => el.getAttribute('data-name') || el.getAttribute('data-seq') || '?');
}
