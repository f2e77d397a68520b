/**
 * The API reference generator: `npm run docs` writes docs/api/*.md from the TSDoc comments of
 * the public API (typedoc needs TypeScript 5's JS API, which TypeScript 7 does not have).
 *
 * It reads source text only. A small lexer masks comments, strings, template literals and
 * regular expressions (same length, newlines kept) so that brackets can be matched on the rest;
 * lib/index.ts's re-exports are followed (`export * as`, `export { a as b } from`, `export *`)
 * to the declarations, and each one's `/** … *\/` comment (the one right before it, or before the
 * re-export that renames it) becomes its entry. One page per namespace (nested ones included),
 * `lemma.md` for the top-level exports, and an index, docs/api/README.md.
 *
 *   node --import tsx scripts/api-docs.ts [outDir]     write (default docs/api)
 *   node --import tsx scripts/api-docs.ts --check      exit 1 when docs/api is stale
 *
 * test/97.docs.test.ts regenerates into a temporary folder and compares with the committed files.
 */
import fs from 'node:fs';
import path from 'node:path';

export type EntryKind = 'function' | 'class' | 'interface' | 'type' | 'const' | 'enum';

export interface DocComment {
  /** The text before the first block tag (markdown). */
  description: string;
  params: Array<{ name: string; text: string }>;
  returns: string;
  throws: string[];
  examples: string[];
  internal: boolean;
}

export interface ApiMember {
  name: string;
  signature: string;
  doc: DocComment | null;
}

export interface ApiEntry {
  /** The exported name (after any `as` rename). */
  name: string;
  kind: EntryKind;
  /** The declaration as written (functions: every overload, without bodies). */
  signature: string;
  doc: DocComment | null;
  /** Public members of a class. */
  members: ApiMember[];
  /** repository-relative file and 1-based line of the declaration. */
  source: string;
}

export interface ApiNamespace {
  /** '' for the top level, else e.g. 'attention' or 'looped.subleq'. */
  path: string;
  summary: string;
  source: string;
  entries: ApiEntry[];
  namespaces: string[];
}

// ---------------------------------------------------------------------------------------------
// Lexing

interface Comment { start: number; end: number; text: string }
interface Lexed { text: string; masked: string; comments: Comment[]; depth: Int32Array; literal: Uint8Array }

const REGEX_PREV = new Set(['(', ',', '=', ':', '[', '!', '&', '|', '?', '{', '}', ';', '+', '-', '*', '%', '<', '>', '~', '^', '']);
const REGEX_KEYWORDS = /(?:^|[^\w$])(?:return|typeof|case|do|else|in|of|void|yield|await|throw)$/;

function lex(text: string): Lexed {
  const out = text.split('');
  const comments: Comment[] = [];
  // 1 inside a comment, string, template literal or regular expression.
  const literal = new Uint8Array(text.length + 1);
  const mask = (a: number, b: number, ch: string): void => {
    for (let i = a; i < b; i++) {
      literal[i] = 1;
      if (text[i] !== '\n') out[i] = ch;
    }
  };
  // Stack of open template literals' `${` brace depths.
  const templates: number[] = [];
  let braces = 0;
  let i = 0;
  let lastSignificant = '';
  let lastWordEnd = 0;
  const n = text.length;
  const skipString = (q: string, from: number): number => {
    let j = from + 1;
    while (j < n && text[j] !== q) {
      if (text[j] === '\\') j++;
      else if (text[j] === '\n') break;
      j++;
    }
    return j + 1;
  };
  // Scans a template literal's text from `from` (just after ` or after a closing `}` of `${`);
  // returns the index after the closing backtick, or the index after `${` (pushing a template).
  const skipTemplate = (from: number): number => {
    let j = from;
    while (j < n) {
      if (text[j] === '\\') { j += 2; continue; }
      if (text[j] === '`') return j + 1;
      if (text[j] === '$' && text[j + 1] === '{') { templates.push(braces); braces++; return j + 2; }
      j++;
    }
    return n;
  };
  while (i < n) {
    const c = text[i];
    if (c === '/' && text[i + 1] === '/') {
      const e = text.indexOf('\n', i);
      const end = e < 0 ? n : e;
      mask(i, end, ' ');
      i = end;
      continue;
    }
    if (c === '/' && text[i + 1] === '*') {
      const e = text.indexOf('*/', i + 2);
      const end = e < 0 ? n : e + 2;
      comments.push({ start: i, end, text: text.slice(i, end) });
      mask(i, end, ' ');
      i = end;
      continue;
    }
    if (c === '"' || c === "'") {
      const end = skipString(c, i);
      mask(i, end, '_');
      i = end;
      lastSignificant = '_';
      continue;
    }
    if (c === '`') {
      const end = skipTemplate(i + 1);
      mask(i, end, '_');
      i = end;
      lastSignificant = '_';
      continue;
    }
    if (c === '}' && templates.length > 0 && braces - 1 === templates[templates.length - 1]) {
      templates.pop();
      braces--;
      const end = skipTemplate(i + 1);
      mask(i, end, '_');
      i = end;
      lastSignificant = '_';
      continue;
    }
    if (c === '/') {
      const before = text.slice(Math.max(0, lastWordEnd - 12), i).trimEnd();
      const isRegex = REGEX_PREV.has(lastSignificant) || REGEX_KEYWORDS.test(before);
      if (isRegex) {
        let j = i + 1;
        let inClass = false;
        while (j < n && text[j] !== '\n') {
          if (text[j] === '\\') { j += 2; continue; }
          if (text[j] === '[') inClass = true;
          else if (text[j] === ']') inClass = false;
          else if (text[j] === '/' && !inClass) break;
          j++;
        }
        j++;
        while (j < n && /[a-z]/i.test(text[j])) j++;
        mask(i, j, '_');
        i = j;
        lastSignificant = '_';
        continue;
      }
    }
    if (c === '{') braces++;
    else if (c === '}') braces--;
    if (!/\s/.test(c)) {
      lastSignificant = /[\w$]/.test(c) ? 'w' : c;
      if (/[\w$]/.test(c)) lastWordEnd = i + 1;
    }
    i++;
  }
  const masked = out.join('');
  // Brace depth at every position (of the masked text): the depth before the character.
  const depth = new Int32Array(n + 1);
  let d = 0;
  for (let j = 0; j < n; j++) {
    depth[j] = d;
    if (masked[j] === '{') d++;
    else if (masked[j] === '}') d--;
  }
  depth[n] = d;
  return { text, masked, comments, depth, literal };
}

function lineOf(text: string, pos: number): number {
  let line = 1;
  for (let i = 0; i < pos; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** The doc comment that ends right before `pos` (only whitespace between), if any. */
function docBefore(lx: Lexed, pos: number): Comment | null {
  let lo = 0;
  let hi = lx.comments.length - 1;
  let best: Comment | null = null;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (lx.comments[mid].end <= pos) { best = lx.comments[mid]; lo = mid + 1; } else hi = mid - 1;
  }
  if (!best || !best.text.startsWith('/**') || best.text === '/**/') return null;
  return /^\s*$/.test(lx.text.slice(best.end, pos)) ? best : null;
}

/** Index of the matching close bracket for the open one at `pos` (masked text). */
function matchBracket(masked: string, pos: number): number {
  const open = masked[pos];
  const close = open === '{' ? '}' : open === '(' ? ')' : ']';
  let d = 0;
  for (let i = pos; i < masked.length; i++) {
    if (masked[i] === open) d++;
    else if (masked[i] === close && --d === 0) return i;
  }
  return masked.length - 1;
}

function prevNonSpace(masked: string, pos: number): string {
  for (let i = pos - 1; i >= 0; i--) if (!/\s/.test(masked[i])) return masked[i];
  return '';
}

/**
 * Scans a declaration head from `start`: returns where it ends and how. `body` is a `{` that
 * opens a function or class body (a `{` right after `:`, `|`, `&`, `,`, `(`, `<`, `=` or `=>`
 * opens an object type instead); `semi` is a `;` at depth 0; `close` is the `}` closing the
 * enclosing block; `newline` a line end at depth 0 after which the declaration cannot go on.
 */
function scanHead(lx: Lexed, start: number, opts: { stopAtNewline?: boolean } = {}): { end: number; how: 'body' | 'semi' | 'close' | 'newline' } {
  const { masked, literal } = lx;
  let d = 0;
  for (let i = start; i < masked.length; i++) {
    const c = masked[i];
    if (c === '=' && masked[i + 1] === '>') { i++; continue; }
    if (c === '(' || c === '[' || c === '<') { d++; continue; }
    if (c === ')' || c === ']' || c === '>') { d--; continue; }
    if (c === '{') {
      if (d === 0) {
        const p = prevNonSpace(masked, i);
        const typeBrace = ':|&,(<='.includes(p) || (p === '>' && masked.slice(Math.max(0, i - 40), i).trimEnd().endsWith('=>'));
        if (!typeBrace) return { end: i, how: 'body' };
      }
      i = matchBracket(masked, i);
      continue;
    }
    if (c === '}' && d <= 0) return { end: i, how: 'close' };
    if (c === ';' && d <= 0) return { end: i, how: 'semi' };
    if (c === '\n' && d <= 0 && opts.stopAtNewline && !literal[i]) {
      const before = masked.slice(start, i).trimEnd();
      const after = masked.slice(i + 1).trimStart();
      const continues = /[=|&,:(<?.]$/.test(before) || /^[|&.?:=]/.test(after) || before.length === 0;
      if (!continues) return { end: i, how: 'newline' };
    }
  }
  return { end: masked.length, how: 'semi' };
}

// ---------------------------------------------------------------------------------------------
// Doc comments

function cleanCommentText(raw: string): string[] {
  const body = raw.replace(/^\/\*\*/, '').replace(/\*\/$/, '');
  const lines = body.split('\n').map((l) => l.replace(/^\s*\* ?/, '').replace(/\s+$/, ''));
  while (lines.length && lines[0].trim() === '') lines.shift();
  while (lines.length && lines[lines.length - 1].trim() === '') lines.pop();
  return lines;
}

const inlineLinks = (s: string): string => s.replace(/\{@link\s+([^}|\s]+)(?:\s*\|?\s*([^}]*))?\}/g, (_m, target: string, label: string) => `\`${(label || target).trim()}\``);

export function parseDoc(raw: string): DocComment {
  const lines = cleanCommentText(raw);
  const doc: DocComment = { description: '', params: [], returns: '', throws: [], examples: [], internal: false };
  const desc: string[] = [];
  let current: { tag: string; lines: string[] } | null = null;
  const flush = (): void => {
    if (!current) return;
    const text = current.lines.join('\n');
    switch (current.tag) {
      case 'param': {
        const m = /^\s*(\S+)\s*(?:-\s+)?([\s\S]*)$/.exec(text);
        if (m) doc.params.push({ name: m[1], text: inlineLinks(m[2].trim()) });
        break;
      }
      case 'returns': case 'return': doc.returns = inlineLinks(text.trim()); break;
      case 'throws': doc.throws.push(inlineLinks(text.trim())); break;
      case 'example': {
        const ls = [...current.lines];
        while (ls.length && ls[0].trim() === '') ls.shift();
        while (ls.length && ls[ls.length - 1].trim() === '') ls.pop();
        doc.examples.push(ls.join('\n'));
        break;
      }
      case 'internal': doc.internal = true; break;
      default: desc.push(`*@${current.tag}* ${inlineLinks(text.trim())}`);
    }
    current = null;
  };
  for (const line of lines) {
    const m = /^@(\w+)\s?(.*)$/.exec(line.trim());
    if (m && !(current && current.tag === 'example' && line.startsWith(' '))) {
      flush();
      current = { tag: m[1], lines: [m[2]] };
    } else if (current) current.lines.push(line);
    else desc.push(line);
  }
  flush();
  doc.description = inlineLinks(desc.join('\n').trim());
  return doc;
}

// ---------------------------------------------------------------------------------------------
// Modules

interface Decl { kind: EntryKind; name: string; start: number; signature: string; docPos: number; members: ApiMember[] }
type Export =
  | { type: 'decl'; name: string; file: string; decl: Decl; docOverride: Comment | null }
  | { type: 'namespace'; name: string; file: string };

interface Module { file: string; lx: Lexed; decls: Map<string, Decl[]>; exports: Map<string, Export> | null; summary: string }

const DECL_RE = /(^|\n)([ \t]*)(export[ \t]+)?(?:declare[ \t]+)?(?:default[ \t]+)?(?:async[ \t]+)?(?:abstract[ \t]+)?(function\*?|class|interface|type|const|let|enum)[ \t]+([A-Za-z_$][\w$]*)/g;

function cleanSignature(s: string): string {
  const lines = s.replace(/\s+$/, '').split('\n');
  const indent = Math.min(...lines.slice(1).filter((l) => l.trim()).map((l) => /^\s*/.exec(l)![0].length), Infinity);
  return lines.map((l, i) => (i === 0 || !Number.isFinite(indent) ? l : l.slice(Math.max(0, indent - 2)))).join('\n');
}

/** Strips block comments from declaration text (member docs are rendered separately). */
function stripComments(lx: Lexed, a: number, b: number): string {
  let s = '';
  let pos = a;
  for (const c of lx.comments) {
    if (c.end <= a || c.start >= b) continue;
    s += lx.text.slice(pos, c.start);
    pos = c.end;
  }
  s += lx.text.slice(pos, b);
  return s.split('\n').filter((l) => l.trim() !== '' ).join('\n');
}

function classMembers(lx: Lexed, open: number, close: number): ApiMember[] {
  const members: ApiMember[] = [];
  const { masked, text } = lx;
  let i = open + 1;
  while (i < close) {
    while (i < close && (/\s/.test(masked[i]) || masked[i] === ';')) i++;
    if (i >= close) break;
    const head = scanHead(lx, i);
    const headText = text.slice(i, head.end).trim();
    const end = head.how === 'body' ? matchBracket(masked, head.end) + 1 : head.end + 1;
    const doc = docBefore(lx, i);
    const parsed = doc ? parseDoc(doc.text) : null;
    const name = /^(?:(?:public|static|readonly|async|get|set|override|declare|abstract)\s+)*(\[[^\]]+\]|#?[\w$]+)/.exec(headText)?.[1] ?? '';
    const hidden = /^(private|protected)\b/.test(headText) || name.startsWith('#') || name.startsWith('_')
      || /^static\s*$/.test(headText) || (name === 'constructor' && !parsed);
    if (!hidden && name) {
      const sig = cleanSignature(stripComments(lx, i, head.end).replace(/\s*=\s*[\s\S]*$/, (m) => (head.how === 'semi' && !m.includes('=>') ? '' : m)).trim());
      members.push({ name, signature: sig.replace(/\s*$/, head.how === 'semi' ? ';' : ''), doc: parsed });
    }
    i = Math.max(end, i + 1);
  }
  return members;
}

function readDecls(lx: Lexed): Map<string, Decl[]> {
  const decls = new Map<string, Decl[]>();
  const { masked, text, depth } = lx;
  for (const m of masked.matchAll(DECL_RE)) {
    const start = m.index! + m[1].length + m[2].length;
    if (depth[start] !== 0) continue;
    const keyword = m[4];
    const name = m[5];
    const kind: EntryKind = keyword.startsWith('function') ? 'function' : keyword === 'let' ? 'const' : (keyword as EntryKind);
    let signature = '';
    let members: ApiMember[] = [];
    if (kind === 'function') {
      const h = scanHead(lx, start);
      signature = text.slice(start, h.end).trim().replace(/^export\s+/, '').replace(/^async\s+/, 'async ') + ';';
    } else if (kind === 'class') {
      const h = scanHead(lx, start);
      signature = text.slice(start, h.end).trim().replace(/^export\s+/, '');
      if (h.how === 'body') members = classMembers(lx, h.end, matchBracket(masked, h.end));
    } else if (kind === 'interface' || kind === 'enum') {
      const h = scanHead(lx, start);
      const end = h.how === 'body' ? matchBracket(masked, h.end) + 1 : h.end;
      signature = text.slice(start, end).replace(/^export\s+/, '');
    } else if (kind === 'type') {
      const h = scanHead(lx, start, { stopAtNewline: true });
      signature = text.slice(start, h.end).replace(/^export\s+/, '').trimEnd();
      if (!signature.endsWith(';')) signature += ';';
    } else {
      const h = scanHead(lx, start, { stopAtNewline: true });
      const full = text.slice(start, h.end).replace(/^export\s+/, '').trim();
      const eq = masked.indexOf('=', start);
      const annotated = /^(?:const|let)\s+[\w$]+\s*:/.exec(full);
      const value = eq >= 0 && eq < h.end ? text.slice(eq + 1, h.end).trim().replace(/;$/, '') : '';
      if (annotated) signature = full.slice(0, eq - start).trim() + ';';
      else if (value && !value.includes('\n') && value.length <= 100) signature = `${full.replace(/;$/, '')};`;
      else if (/^[`'"]/.test(value)) signature = `${keyword} ${name}: string;`;
      else signature = `${keyword} ${name};`;
    }
    const list = decls.get(name) ?? [];
    list.push({ kind, name, start, signature: cleanSignature(signature), docPos: start, members });
    decls.set(name, list);
  }
  return decls;
}

function moduleSummary(lx: Lexed): string {
  const first = lx.comments[0];
  if (!first || !first.text.startsWith('/**') || !/^\s*$/.test(lx.text.slice(0, first.start))) return '';
  // A file header: followed by a blank line or by the module's statements, not glued to a declaration.
  const after = lx.text.slice(first.end);
  if (/^[ \t]*\n?[ \t]*export\s+(async\s+)?(function|class|interface|type|const)/.test(after)) return '';
  return parseDoc(first.text).description;
}

export class ApiReader {
  private readonly modules = new Map<string, Module>();
  constructor(readonly root: string) {}

  private rel(file: string): string {
    return path.relative(this.root, file).split(path.sep).join('/');
  }

  module(file: string): Module {
    let mod = this.modules.get(file);
    if (!mod) {
      const lx = lex(fs.readFileSync(file, 'utf8'));
      mod = { file, lx, decls: readDecls(lx), exports: null, summary: moduleSummary(lx) };
      this.modules.set(file, mod);
    }
    return mod;
  }

  private resolve(from: string, spec: string): string {
    const base = path.resolve(path.dirname(from), spec);
    for (const cand of [base.replace(/\.js$/, '.ts'), `${base}.ts`, path.join(base, 'index.ts')]) if (fs.existsSync(cand)) return cand;
    throw new Error(`${this.rel(from)}: cannot resolve '${spec}'`);
  }

  exportsOf(file: string): Map<string, Export> {
    const mod = this.module(file);
    if (mod.exports) return mod.exports;
    const exports = new Map<string, Export>();
    mod.exports = exports;
    const { masked, text, depth } = mod.lx;
    const fromSpec = (pos: number): { spec: string | null; end: number } => {
      const m = /^\s*from\s*/.exec(masked.slice(pos));
      if (!m) return { spec: null, end: pos };
      const q = pos + m[0].length;
      const close = text.indexOf(text[q], q + 1);
      return { spec: text.slice(q + 1, close), end: close + 1 };
    };
    const re = /(^|\n)export\s+(type\s+)?(\*\s*as\s+([\w$]+)|\*|\{)/g;
    for (const m of masked.matchAll(re)) {
      const start = m.index! + m[1].length;
      if (depth[start] !== 0) continue;
      const before = docBefore(mod.lx, start);
      // The file's header comment describes the module, not the first re-export under it.
      const docOverride = before && before === mod.lx.comments[0] && /^\s*$/.test(text.slice(0, before.start)) ? null : before;
      if (m[4]) {
        const { spec } = fromSpec(m.index! + m[0].length);
        exports.set(m[4], { type: 'namespace', name: m[4], file: this.resolve(file, spec!) });
      } else if (m[3] === '*') {
        const { spec } = fromSpec(m.index! + m[0].length);
        for (const [k, v] of this.exportsOf(this.resolve(file, spec!))) if (k !== 'default') exports.set(k, v);
      } else {
        const open = m.index! + m[0].length - 1;
        const close = matchBracket(masked, open);
        const { spec } = fromSpec(close + 1);
        const target = spec ? this.resolve(file, spec) : null;
        for (const item of text.slice(open + 1, close).split(',')) {
          const im = /^\s*(?:type\s+)?([\w$]+)(?:\s+as\s+([\w$]+))?\s*$/.exec(item.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ''));
          if (!im) continue;
          const [, local, alias] = im;
          const name = alias ?? local;
          const found = target ? this.exportsOf(target).get(local) : this.local(file, local);
          if (!found) throw new Error(`${this.rel(file)}: '${local}' not found${target ? ` in ${this.rel(target)}` : ''}`);
          exports.set(name, found.type === 'decl' ? { ...found, name, docOverride: docOverride ?? found.docOverride } : { ...found, name });
        }
      }
    }
    for (const [name, list] of mod.decls) {
      const head = list[0];
      if (/^export\b/.test(text.slice(head.start))) exports.set(name, { type: 'decl', name, file, decl: head, docOverride: null });
    }
    return exports;
  }

  private local(file: string, name: string): Export | undefined {
    const d = this.module(file).decls.get(name);
    return d ? { type: 'decl', name, file, decl: d[0], docOverride: null } : undefined;
  }

  entry(e: Extract<Export, { type: 'decl' }>): ApiEntry {
    const mod = this.module(e.file);
    const all = mod.decls.get(e.decl.name) ?? [e.decl];
    // Overloads: every signature of a function (the implementation's too when it is the only one).
    let signature = e.decl.signature;
    let doc: Comment | null = null;
    if (e.decl.kind === 'function') {
      const fns = all.filter((d) => d.kind === 'function');
      const sigs = fns.length > 1 ? fns.slice(0, -1) : fns;
      signature = sigs.map((d) => d.signature).join('\n');
      for (const d of fns) { doc = docBefore(mod.lx, d.start); if (doc) break; }
    } else {
      for (const d of all) { doc = docBefore(mod.lx, d.start); if (doc) break; }
    }
    const docComment = e.docOverride ?? doc;
    let signatureOut = signature.replace(new RegExp(`(function\\*?|class|interface|type|const|let|enum)(\\s+)${e.decl.name.replace(/\$/g, '\\$')}\\b`, 'g'), `$1$2${e.name}`);
    if (e.name !== e.decl.name) signatureOut = `// ${e.name}: the same as ${e.decl.name}\n${signatureOut}`;
    return {
      name: e.name,
      kind: e.decl.kind,
      signature: signatureOut,
      doc: docComment ? parseDoc(docComment.text) : null,
      members: e.decl.members,
      source: `${this.rel(e.file)}:${lineOf(mod.lx.text, e.decl.start)}`,
    };
  }

  /** Every namespace reachable from the entry file, the top level ('') first. */
  collect(entry: string): ApiNamespace[] {
    const out: ApiNamespace[] = [];
    const walk = (file: string, nsPath: string): void => {
      const exports = this.exportsOf(file);
      const ns: ApiNamespace = { path: nsPath, summary: this.module(file).summary, source: this.rel(file), entries: [], namespaces: [] };
      out.push(ns);
      const children: Array<[string, string]> = [];
      for (const e of exports.values()) {
        if (e.type === 'namespace') {
          const child = nsPath ? `${nsPath}.${e.name}` : e.name;
          ns.namespaces.push(child);
          children.push([e.file, child]);
        } else {
          const entry = this.entry(e);
          if (!entry.doc?.internal) ns.entries.push(entry);
        }
      }
      for (const [f, p] of children) walk(f, p);
    };
    walk(entry, '');
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering

const KIND_ORDER: Array<[EntryKind, string]> = [
  ['function', 'Functions'], ['class', 'Classes'], ['const', 'Constants'], ['interface', 'Interfaces'], ['type', 'Types'], ['enum', 'Enums'],
];

/** Design notes the source comments cite, and the page of docs/algorithms that covers each. */
const SPEC_PAGES: Record<string, string> = {
  'attention-io': 'attention', 'sparse-attention-hsr': 'sparse-attention', 'polynomial-attention-gradients': 'polynomial-attention',
  'dikin-walk': 'convex-sampling', 'john-ellipsoid': 'convex-sampling', 'dp-kde-l1': 'private-l1-kde', 'attention-pruning': 'pruning',
  'looped-fixed-points': 'looped-networks', 'looped-relu-computer': 'looped-networks', 'machine-penalty-game': 'machine-penalty',
};
const SPEC_REF = /(?:spec:?\s+)?(?:shared\/)?(?:specs\/)?\b([a-z0-9]+(?:-[a-z0-9]+)+)\.md\b(?:\s+§[\d.–-]+)?/g;

/** Points the source comments' references to design notes (outside the repository) at docs/algorithms. */
function localiseSpecRefs(markdown: string): string {
  let fenced = false;
  return markdown.split('\n').map((line) => {
    if (line.startsWith('```')) fenced = !fenced;
    return line.replace(SPEC_REF, (m, name: string) => {
      const page = SPEC_PAGES[name];
      if (!page) return m;
      return fenced ? `docs/algorithms/${page}.md` : `[docs/algorithms/${page}.md](../algorithms/${page}.md)`;
    });
  }).join('\n');
}

// A path starting with '/' is a separate entry point of the exports map ('/tfjs': `lemma/tfjs`).
const pageName = (nsPath: string): string => `${nsPath.replace(/^\//, '') || 'lemma'}.md`;
const title = (nsPath: string): string => (nsPath.startsWith('/') ? `lemma${nsPath} (entry point)` : nsPath ? `lemma.${nsPath}` : 'lemma (top level)');
const anchor = (name: string): string => name.toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-');
const GENERATED = '<!-- Generated by scripts/api-docs.ts (npm run docs) from the TSDoc comments in lib/. Do not edit by hand. -->';

function firstSentence(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const m = /^(.+?\.)(\s|$)/.exec(flat);
  const s = m ? m[1] : flat;
  return s.length > 160 ? `${s.slice(0, 157)}…` : s;
}

/** Markdown for a description: lines indented as an aligned table become a text block. */
function renderDescription(text: string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (/^ {2,}\S.*\S {3,}\S/.test(lines[i])) {
      const block: string[] = [];
      while (i < lines.length && /^ {2,}\S/.test(lines[i])) block.push(lines[i++]);
      i--;
      if (out.length && out[out.length - 1] !== '') out.push('');
      out.push('```text', ...block.map((l) => l.replace(/^ {2}/, '')), '```', '');
    } else out.push(lines[i]);
  }
  return out.join('\n').replace(/\n{3,}/g, '\n\n').trim();
}

const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, ' ');

function renderDoc(doc: DocComment | null, headingLevel: number): string[] {
  if (!doc) return ['*(no description)*', ''];
  const out: string[] = [];
  if (doc.description) out.push(renderDescription(doc.description), '');
  if (doc.params.length) {
    out.push('**Parameters**', '');
    for (const p of doc.params) out.push(`- \`${p.name}\`${p.text ? `: ${oneLine(p.text)}` : ''}`);
    out.push('');
  }
  if (doc.returns) out.push(`**Returns** ${oneLine(doc.returns)}`, '');
  if (doc.throws.length) {
    out.push('**Throws**', '');
    for (const t of doc.throws) out.push(`- ${oneLine(t)}`);
    out.push('');
  }
  for (const ex of doc.examples) {
    out.push('**Example**', '');
    if (ex.trimStart().startsWith('```')) out.push(ex, '');
    else out.push('```ts', ex, '```', '');
  }
  void headingLevel;
  return out;
}

export function renderNamespace(ns: ApiNamespace): string {
  const out: string[] = [GENERATED, '', `# ${title(ns.path)}`, ''];
  if (ns.summary) out.push(renderDescription(ns.summary), '');
  out.push(`Source: \`${ns.source}\`. [Index of all namespaces](README.md).`, '');
  if (ns.namespaces.length) {
    out.push('## Namespaces', '');
    for (const c of ns.namespaces) out.push(`- [lemma.${c}](${pageName(c)})`);
    out.push('');
  }
  for (const [kind, heading] of KIND_ORDER) {
    const entries = ns.entries.filter((e) => e.kind === kind);
    if (!entries.length) continue;
    out.push(`## ${heading}`, '');
    for (const e of entries) out.push(`- [${e.name}](#${anchor(e.name)})${e.doc?.description ? `: ${firstSentence(e.doc.description)}` : ''}`);
    out.push('');
    for (const e of entries) {
      out.push(`### ${e.name}`, '', '```ts', e.signature, '```', '');
      if (e.doc || e.kind === 'function' || e.kind === 'class') out.push(...renderDoc(e.doc, 3));
      for (const m of e.members) {
        if (m.doc?.internal) continue;
        out.push(`#### ${e.name}.${m.name}`, '', '```ts', m.signature, '```', '');
        if (m.doc) out.push(...renderDoc(m.doc, 4));
      }
      out.push(`<sub>Defined in \`${e.source}\`</sub>`, '');
    }
  }
  return `${localiseSpecRefs(out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd())}\n`;
}

export function renderIndex(model: ApiNamespace[]): string {
  const out: string[] = [
    GENERATED, '', '# API reference', '',
    'Every public export of `require(\'lemma\')`, by namespace, and of the separate entry point',
    '`lemma/tfjs`, with the signatures as declared and the',
    'TSDoc comments of the source. The algorithms behind each family are described in',
    '[../algorithms/](../algorithms/README.md); errors and options follow the rules in the main',
    '[README](../../README.md#errors).', '',
    '| namespace | exports | summary |', '| --- | ---: | --- |',
  ];
  for (const ns of model) {
    const summary = ns.summary ? firstSentence(ns.summary.replace(/^lemma(\.[\w.]+)?:\s*/, '')).replace(/\|/g, '\\|') : '';
    out.push(`| [${title(ns.path)}](${pageName(ns.path)}) | ${ns.entries.length} | ${summary} |`);
  }
  return `${localiseSpecRefs(out.join('\n'))}\n`;
}

/** The generated files: name → content. */
export function generate(root: string): Map<string, string> {
  const model = new ApiReader(root).collect(path.join(root, 'lib', 'index.ts'));
  // The exports map's other entry points (not reachable from lib/index.ts): one page each.
  for (const [sub, file] of [['/tfjs', path.join(root, 'lib', 'tfjs', 'index.ts')]] as const) {
    const [top] = new ApiReader(root).collect(file);
    model.push({ ...top, path: sub });
  }
  const files = new Map<string, string>();
  files.set('README.md', renderIndex(model));
  for (const ns of model) files.set(pageName(ns.path), renderNamespace(ns));
  return files;
}

export function writeApiDocs(root: string, outDir: string): string[] {
  const files = generate(root);
  fs.mkdirSync(outDir, { recursive: true });
  for (const f of fs.readdirSync(outDir)) if (f.endsWith('.md') && !files.has(f)) fs.rmSync(path.join(outDir, f));
  for (const [name, content] of files) fs.writeFileSync(path.join(outDir, name), content);
  return [...files.keys()];
}

if (require.main === module) {
  const root = path.join(__dirname, '..');
  const args = process.argv.slice(2);
  const apiDir = path.join(root, 'docs', 'api');
  if (args.includes('--check')) {
    const files = generate(root);
    const stale = [...files].filter(([name, content]) => !fs.existsSync(path.join(apiDir, name)) || fs.readFileSync(path.join(apiDir, name), 'utf8') !== content).map(([n]) => n);
    const extra = fs.existsSync(apiDir) ? fs.readdirSync(apiDir).filter((f) => f.endsWith('.md') && !files.has(f)) : [];
    if (stale.length || extra.length) {
      console.error(`docs/api is stale (${[...stale, ...extra].join(', ')}): run npm run docs`);
      process.exit(1);
    }
    console.log(`docs/api is up to date (${files.size} files)`);
  } else {
    const out = args[0] ? path.resolve(args[0]) : apiDir;
    const written = writeApiDocs(root, out);
    console.log(`wrote ${written.length} files to ${path.relative(process.cwd(), out) || '.'}`);
  }
}
