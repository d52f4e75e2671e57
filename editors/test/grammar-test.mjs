// Checks the Flow TextMate grammar (editors/vscode/syntaxes/flow.tmLanguage.json).
//
// 1. Every example program (examples/, tests/ok/, tests/run/) is tokenized, and
//    (a) every non-whitespace character must get a scope that says what it is:
//        one beyond the root `source.flow` and beyond `meta.*` regions;
//    (b) every reserved keyword used as a keyword (not followed by `:`, not after `.`, not in a
//        string or comment) must be a token of its own with a keyword., storage. or
//        constant.language scope. The keywords are read from the `kw("word", Kind)` lines of
//        grammar/src/keywords.rs (all kinds but Contextual), the one source of truth.
// 2. (c) On a small fixture, comments get comment scopes and string text string scopes.
// 3. (d) A small fixture is compared token by token with an expected list.
//
// Run with `npm test` (after `npm ci`) in this directory. Exits 1 on any failure.

import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import vsctm from 'vscode-textmate';
import oniguruma from 'vscode-oniguruma';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const grammarPath = join(repo, 'editors', 'vscode', 'syntaxes', 'flow.tmLanguage.json');
const keywordsPath = join(repo, 'grammar', 'src', 'keywords.rs');
// tests/parse and tests/check hold deliberately broken programs: not scanned.
const programDirs = ['examples', join('tests', 'ok'), join('tests', 'run')];
const ROOT = 'source.flow';
// At most this many problems of one kind are printed.
const SHOW = 25;

// ------------------------------------------------------------ loading

async function loadGrammar() {
  const require = createRequire(import.meta.url);
  const wasm = readFileSync(join(dirname(require.resolve('vscode-oniguruma')), 'onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (sources) => new oniguruma.OnigScanner(sources),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async (scopeName) => {
      if (scopeName !== ROOT) return null;
      return vsctm.parseRawGrammar(readFileSync(grammarPath, 'utf8'), grammarPath);
    },
  });
  const grammar = await registry.loadGrammar(ROOT);
  if (!grammar) throw new Error(`cannot load ${grammarPath}`);
  return grammar;
}

/** The keywords and their kinds, from the `kw("word", Kind)` lines of keywords.rs. */
function readKeywords() {
  const source = readFileSync(keywordsPath, 'utf8');
  const keywords = [...source.matchAll(/\bkw\("([A-Za-z_]+)",\s*([A-Za-z]+)\)/g)].map((m) => ({ word: m[1], kind: m[2] }));
  const reserved = keywords.filter((k) => k.kind !== 'Contextual').map((k) => k.word);
  if (reserved.length < 10 || !reserved.includes('flow')) {
    throw new Error(`could not read the keyword table from ${keywordsPath} (found ${keywords.length} entries)`);
  }
  return { all: keywords, reserved };
}

function findPrograms() {
  const files = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && entry.name.endsWith('.flow')) files.push(path);
    }
  };
  for (const dir of programDirs) walk(join(repo, dir));
  return files.sort();
}

// ------------------------------------------------------------ tokenizing

/** Tokens of a whole text: { line, col (both 1-based), text, scopes }. */
function tokenize(grammar, text) {
  const tokens = [];
  let state = vsctm.INITIAL;
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const result = grammar.tokenizeLine(line, state);
    for (const t of result.tokens) {
      const end = Math.min(t.endIndex, line.length);
      if (end <= t.startIndex) continue;
      tokens.push({ line: i + 1, col: t.startIndex + 1, start: t.startIndex, end, text: line.slice(t.startIndex, end), scopes: t.scopes });
    }
    state = result.ruleStack;
  });
  return { lines, tokens };
}

/** Whether the token is text of a string or comment (not code interpolated into a string). */
function inStringOrComment(scopes) {
  for (let i = scopes.length - 1; i >= 0; i--) {
    const s = scopes[i];
    if (s.startsWith('meta.interpolation') || s.startsWith('meta.embedded')) return false;
    if (s.startsWith('string.') || s.startsWith('comment.')) return true;
  }
  return false;
}

const telling = (scopes) => scopes.filter((s) => s !== ROOT && !s.startsWith('meta.'));
const isKeywordScope = (s) => s.startsWith('keyword.') || s.startsWith('storage.') || s.startsWith('constant.language');
const show = (scopes) => scopes.filter((s) => s !== ROOT).join(' ') || '(none)';

// ------------------------------------------------------------ checks (a) and (b)

function checkProgram(grammar, reserved, path, failures, counts) {
  const name = relative(repo, path);
  const { lines, tokens } = tokenize(grammar, readFileSync(path, 'utf8'));
  const byLine = new Map();
  for (const t of tokens) {
    if (!byLine.has(t.line)) byLine.set(t.line, []);
    byLine.get(t.line).push(t);
  }

  // (a) every non-whitespace character is scoped
  for (const t of tokens) {
    if (!/\S/.test(t.text)) continue;
    counts.tokens++;
    if (telling(t.scopes).length === 0) {
      const offset = t.text.search(/\S/);
      failures.unscoped.push(`${name}:${t.line}:${t.col + offset}: ${JSON.stringify(t.text.trim())} has only ${show(t.scopes)}`);
    }
  }

  // (b) reserved keywords used as keywords get keyword scopes
  const keywordRe = new RegExp(`\\b(?:${reserved.join('|')})\\b`, 'g');
  lines.forEach((line, i) => {
    for (const m of line.matchAll(keywordRe)) {
      const start = m.index;
      const end = start + m[0].length;
      if (/^\s*:/.test(line.slice(end))) continue; // a record key or field name
      if (/\.\s*$/.test(line.slice(0, start))) continue; // a field access
      const covering = (byLine.get(i + 1) || []).filter((t) => t.start < end && t.end > start);
      if (covering.length === 0 || inStringOrComment(covering[0].scopes)) continue;
      counts.keywords++;
      const where = `${name}:${i + 1}:${start + 1}`;
      const t = covering[0];
      if (covering.length !== 1 || t.start !== start || t.end !== end) {
        failures.keywords.push(`${where}: keyword \`${m[0]}\` is not a token of its own (token ${JSON.stringify(t.text)}: ${show(t.scopes)})`);
      } else if (!t.scopes.some(isKeywordScope)) {
        failures.keywords.push(`${where}: keyword \`${m[0]}\` has ${show(t.scopes)}, no keyword./storage./constant.language scope`);
      }
    }
  });
}

// ------------------------------------------------------------ check (c)

const COMMENTS_AND_STRINGS = `// a comment with "quotes" and flow step keywords
/// a doc comment: type Ticket
flow f(x: string) -> string {
  step a = "plain text \\" \\u{1F600} \\\${x} more" // trailing comment
  step b = """
    triple text "with quotes" and flow words
    second line \\n
  """
  return "\${a} and \${b}"
}
`;

function checkCommentsAndStrings(grammar, failures) {
  const { tokens } = tokenize(grammar, COMMENTS_AND_STRINGS);
  const expect = (what, ok, t) => {
    if (!ok) failures.fixture.push(`fixture:${t.line}:${t.col}: ${JSON.stringify(t.text)} should be ${what}; has ${show(t.scopes)}`);
  };
  const has = (t, prefix) => t.scopes.some((s) => s.startsWith(prefix));
  let seen = 0;
  for (const t of tokens) {
    if (!/\S/.test(t.text)) continue;
    const lineText = COMMENTS_AND_STRINGS.split('\n')[t.line - 1];
    if (t.line === 1) expect('a line comment', has(t, 'comment.line.double-slash'), t);
    if (t.line === 2) expect('a doc comment', has(t, 'comment.line.documentation'), t);
    if (t.line === 4 && t.start >= lineText.indexOf('//')) expect('a line comment', has(t, 'comment.line.double-slash'), t);
    if (t.line === 4 && t.start >= lineText.indexOf('"') && t.end <= lineText.lastIndexOf('"') + 1) {
      expect('string text', has(t, 'string.quoted.double'), t);
      if (t.text.startsWith('\\')) expect('an escape', has(t, 'constant.character.escape'), t);
      expect('not an interpolation (the `$` is escaped)', !has(t, 'meta.interpolation'), t);
    }
    if (t.line >= 5 && t.line <= 8 && !(t.line === 5 && t.start < lineText.indexOf('"'))) {
      expect('triple-quoted string text', has(t, 'string.quoted.triple'), t);
    }
    if (t.line === 9) {
      const inside = t.start >= lineText.indexOf('"') && t.end <= lineText.lastIndexOf('"') + 1;
      if (inside && t.text === 'a') expect('an expression inside an interpolation', has(t, 'variable.other') && has(t, 'meta.interpolation'), t);
      if (inside && t.text.trim() === 'and') expect('string text', has(t, 'string.quoted.double') && !has(t, 'meta.interpolation'), t);
      if (t.text === '${') expect('an interpolation start', has(t, 'punctuation.section.interpolation.begin'), t);
    }
    seen++;
  }
  return seen;
}

// ------------------------------------------------------------ check (d)

const SNAPSHOT_SOURCE = `type Shape = "circle" as "Round" | "square"
tool fetch(url: string) -> { body: string }? = http GET "https://x.test/\${url}"
flow demo(xs: [int], m: map<string, float>) -> string {
  step n = xs.filter(x => x > 1_000).len() ?? 0
  step r = llm fast -> Shape { prompt: "n=\${n + 1}", type: "k" } retry 2 backoff 500ms..1.5s jitter on [timeout, tool]
  step l = loop prev (max: 3) { return prev?.value } until true
  return if n >= 5% { node.type } else { "x\\n" }
}
test t { flow: demo mock fast: null }
`;

// Each token's text and its scopes, without the root and `meta.*` regions.
const SNAPSHOT_EXPECTED = [
  ['type', 'storage.type.type.flow'],
  ['Shape', 'entity.name.type.flow'],
  ['=', 'keyword.operator.assignment.flow'],
  ['"', 'string.quoted.double.flow punctuation.definition.string.begin.flow'],
  ['circle', 'string.quoted.double.flow'],
  ['"', 'string.quoted.double.flow punctuation.definition.string.end.flow'],
  ['as', 'keyword.other.as.flow'],
  ['"', 'string.quoted.double.flow punctuation.definition.string.begin.flow'],
  ['Round', 'string.quoted.double.flow'],
  ['"', 'string.quoted.double.flow punctuation.definition.string.end.flow'],
  ['|', 'keyword.operator.union.flow'],
  ['"', 'string.quoted.double.flow punctuation.definition.string.begin.flow'],
  ['square', 'string.quoted.double.flow'],
  ['"', 'string.quoted.double.flow punctuation.definition.string.end.flow'],
  ['tool', 'storage.type.tool.flow'],
  ['fetch', 'entity.name.function.flow'],
  ['(', 'punctuation.section.parameters.begin.flow'],
  ['url', 'variable.parameter.flow'],
  [':', 'punctuation.separator.type.flow'],
  ['string', 'support.type.primitive.flow'],
  [')', 'punctuation.section.parameters.end.flow'],
  ['->', 'keyword.operator.arrow.flow'],
  ['{', 'punctuation.section.braces.begin.flow'],
  ['body', 'variable.other.property.flow'],
  [':', 'punctuation.separator.type.flow'],
  ['string', 'support.type.primitive.flow'],
  ['}', 'punctuation.section.braces.end.flow'],
  ['?', 'keyword.operator.optional.flow'],
  ['=', 'keyword.operator.assignment.flow'],
  ['http', 'keyword.other.http.flow'],
  ['GET', 'support.constant.http-method.flow'],
  ['"', 'string.quoted.double.flow punctuation.definition.string.begin.flow'],
  ['https://x.test/', 'string.quoted.double.flow'],
  ['${', 'string.quoted.double.flow punctuation.section.interpolation.begin.flow'],
  ['url', 'string.quoted.double.flow variable.other.flow'],
  ['}', 'string.quoted.double.flow punctuation.section.interpolation.end.flow'],
  ['"', 'string.quoted.double.flow punctuation.definition.string.end.flow'],
  ['flow', 'storage.type.flow.flow'],
  ['demo', 'entity.name.function.flow'],
  ['(', 'punctuation.section.parameters.begin.flow'],
  ['xs', 'variable.parameter.flow'],
  [':', 'punctuation.separator.type.flow'],
  ['[', 'punctuation.section.brackets.begin.flow'],
  ['int', 'support.type.primitive.flow'],
  [']', 'punctuation.section.brackets.end.flow'],
  [',', 'punctuation.separator.comma.flow'],
  ['m', 'variable.parameter.flow'],
  [':', 'punctuation.separator.type.flow'],
  ['map', 'keyword.control.map.flow'],
  ['<', 'punctuation.definition.typeparameters.begin.flow'],
  ['string', 'support.type.primitive.flow'],
  [',', 'punctuation.separator.comma.flow'],
  ['float', 'support.type.primitive.flow'],
  ['>', 'punctuation.definition.typeparameters.end.flow'],
  [')', 'punctuation.section.parameters.end.flow'],
  ['->', 'keyword.operator.arrow.flow'],
  ['string', 'support.type.primitive.flow'],
  ['{', 'punctuation.section.braces.begin.flow'],
  ['step', 'keyword.other.step.flow'],
  ['n', 'entity.name.variable.step.flow'],
  ['=', 'keyword.operator.assignment.flow'],
  ['xs', 'variable.other.flow'],
  ['.', 'punctuation.accessor.flow'],
  ['filter', 'support.function.method.flow'],
  ['(', 'punctuation.section.parens.begin.flow'],
  ['x', 'variable.parameter.flow'],
  ['=>', 'keyword.operator.arrow.flow'],
  ['x', 'variable.other.flow'],
  ['>', 'keyword.operator.comparison.flow'],
  ['1_000', 'constant.numeric.integer.flow'],
  [')', 'punctuation.section.parens.end.flow'],
  ['.', 'punctuation.accessor.flow'],
  ['len', 'support.function.method.flow'],
  ['(', 'punctuation.section.parens.begin.flow'],
  [')', 'punctuation.section.parens.end.flow'],
  ['??', 'keyword.operator.coalesce.flow'],
  ['0', 'constant.numeric.integer.flow'],
  ['step', 'keyword.other.step.flow'],
  ['r', 'entity.name.variable.step.flow'],
  ['=', 'keyword.operator.assignment.flow'],
  ['llm', 'keyword.other.llm.flow'],
  ['fast', 'variable.other.model.flow'],
  ['->', 'keyword.operator.arrow.flow'],
  ['Shape', 'entity.name.type.flow'],
  ['{', 'punctuation.section.braces.begin.flow'],
  ['prompt', 'variable.other.property.flow'],
  [':', 'punctuation.separator.key-value.flow'],
  ['"', 'string.quoted.double.flow punctuation.definition.string.begin.flow'],
  ['n=', 'string.quoted.double.flow'],
  ['${', 'string.quoted.double.flow punctuation.section.interpolation.begin.flow'],
  ['n', 'string.quoted.double.flow variable.other.flow'],
  ['+', 'string.quoted.double.flow keyword.operator.arithmetic.flow'],
  ['1', 'string.quoted.double.flow constant.numeric.integer.flow'],
  ['}', 'string.quoted.double.flow punctuation.section.interpolation.end.flow'],
  ['"', 'string.quoted.double.flow punctuation.definition.string.end.flow'],
  [',', 'punctuation.separator.comma.flow'],
  ['type', 'variable.other.property.flow'],
  [':', 'punctuation.separator.key-value.flow'],
  ['"', 'string.quoted.double.flow punctuation.definition.string.begin.flow'],
  ['k', 'string.quoted.double.flow'],
  ['"', 'string.quoted.double.flow punctuation.definition.string.end.flow'],
  ['}', 'punctuation.section.braces.end.flow'],
  ['retry', 'keyword.control.retry.flow'],
  ['2', 'constant.numeric.integer.flow'],
  ['backoff', 'keyword.other.backoff.flow'],
  ['500ms', 'constant.numeric.duration.flow'],
  ['..', 'keyword.operator.range.flow'],
  ['1.5s', 'constant.numeric.duration.flow'],
  ['jitter', 'keyword.other.jitter.flow'],
  ['on', 'keyword.other.on.flow'],
  ['[', 'punctuation.section.brackets.begin.flow'],
  ['timeout', 'constant.language.error-kind.flow'],
  [',', 'punctuation.separator.comma.flow'],
  ['tool', 'constant.language.error-kind.flow'],
  [']', 'punctuation.section.brackets.end.flow'],
  ['step', 'keyword.other.step.flow'],
  ['l', 'entity.name.variable.step.flow'],
  ['=', 'keyword.operator.assignment.flow'],
  ['loop', 'keyword.control.loop.flow'],
  ['prev', 'variable.parameter.flow'],
  ['(', 'punctuation.section.parens.begin.flow'],
  ['max', 'variable.other.property.flow'],
  [':', 'punctuation.separator.key-value.flow'],
  ['3', 'constant.numeric.integer.flow'],
  [')', 'punctuation.section.parens.end.flow'],
  ['{', 'punctuation.section.braces.begin.flow'],
  ['return', 'keyword.control.return.flow'],
  ['prev', 'variable.other.flow'],
  ['?.', 'punctuation.accessor.optional.flow'],
  ['value', 'variable.other.property.flow'],
  ['}', 'punctuation.section.braces.end.flow'],
  ['until', 'keyword.control.until.flow'],
  ['true', 'constant.language.boolean.flow'],
  ['return', 'keyword.control.return.flow'],
  ['if', 'keyword.control.if.flow'],
  ['n', 'variable.other.flow'],
  ['>=', 'keyword.operator.comparison.flow'],
  ['5%', 'constant.numeric.percent.flow'],
  ['{', 'punctuation.section.braces.begin.flow'],
  ['node', 'variable.other.flow'],
  ['.', 'punctuation.accessor.flow'],
  ['type', 'variable.other.property.flow'],
  ['}', 'punctuation.section.braces.end.flow'],
  ['else', 'keyword.control.else.flow'],
  ['{', 'punctuation.section.braces.begin.flow'],
  ['"', 'string.quoted.double.flow punctuation.definition.string.begin.flow'],
  ['x', 'string.quoted.double.flow'],
  ['\\n', 'string.quoted.double.flow constant.character.escape.flow'],
  ['"', 'string.quoted.double.flow punctuation.definition.string.end.flow'],
  ['}', 'punctuation.section.braces.end.flow'],
  ['}', 'punctuation.section.braces.end.flow'],
  ['test', 'storage.type.test.flow'],
  ['t', 'entity.name.function.test.flow'],
  ['{', 'punctuation.section.braces.begin.flow'],
  ['flow', 'variable.other.property.flow'],
  [':', 'punctuation.separator.key-value.flow'],
  ['demo', 'variable.other.flow'],
  ['mock', 'keyword.other.mock.flow'],
  ['fast', 'variable.other.flow'],
  [':', 'punctuation.separator.key-value.flow'],
  ['null', 'constant.language.null.flow'],
  ['}', 'punctuation.section.braces.end.flow'],
];

function snapshot(grammar) {
  const { tokens } = tokenize(grammar, SNAPSHOT_SOURCE);
  return tokens.filter((t) => /\S/.test(t.text)).map((t) => [t.text, telling(t.scopes).join(' ')]);
}

const arrow = ([text, scopes]) => `${JSON.stringify(text)} → ${scopes}`;

function checkSnapshot(grammar, failures) {
  const actual = snapshot(grammar);
  const n = Math.max(actual.length, SNAPSHOT_EXPECTED.length);
  for (let i = 0; i < n; i++) {
    const [a, e] = [actual[i], SNAPSHOT_EXPECTED[i]];
    if (!a || !e || a[0] !== e[0] || a[1] !== e[1]) {
      failures.snapshot.push(
        `token ${i + 1}:\n      expected: ${e ? arrow(e) : '(no more tokens)'}\n      actual:   ${a ? arrow(a) : '(no more tokens)'}`,
      );
      break;
    }
  }
  if (failures.snapshot.length && process.env.FLOW_GRAMMAR_SNAPSHOT) {
    console.log('The snapshot as the grammar gives it now:\n' + actual.map(arrow).join('\n'));
  }
  return actual.length;
}

// ------------------------------------------------------------ main

async function main() {
  const grammar = await loadGrammar();
  const { reserved } = readKeywords();
  const files = findPrograms();
  if (files.length === 0) throw new Error(`no .flow files under ${programDirs.join(', ')}`);

  const failures = { unscoped: [], keywords: [], fixture: [], snapshot: [] };
  const counts = { tokens: 0, keywords: 0 };
  for (const file of files) checkProgram(grammar, reserved, file, failures, counts);
  const fixtureTokens = checkCommentsAndStrings(grammar, failures);
  const snapshotTokens = checkSnapshot(grammar, failures);

  const sections = [
    ['(a) characters without a telling scope', failures.unscoped],
    ['(b) reserved keywords without a keyword scope', failures.keywords],
    ['(c) comment and string fixture', failures.fixture],
    ['(d) snapshot (set FLOW_GRAMMAR_SNAPSHOT=1 to print the actual tokens)', failures.snapshot],
  ];
  let failed = 0;
  for (const [title, list] of sections) {
    if (list.length === 0) continue;
    failed += list.length;
    console.error(`FAIL ${title}: ${list.length}`);
    for (const line of list.slice(0, SHOW)) console.error(`  ${line}`);
    if (list.length > SHOW) console.error(`  ... and ${list.length - SHOW} more`);
  }
  console.log(
    `grammar test: ${files.length} files, ${counts.tokens} tokens checked, ${counts.keywords} keyword uses ` +
      `(${reserved.length} reserved words from keywords.rs), fixtures: ${fixtureTokens} + ${snapshotTokens} tokens`,
  );
  if (failed > 0) {
    console.error(`grammar test FAILED: ${failed} problem(s)`);
    process.exit(1);
  }
  console.log('grammar test passed');
}

main().catch((e) => {
  console.error(`grammar test could not run: ${e.stack || e}`);
  process.exit(1);
});
