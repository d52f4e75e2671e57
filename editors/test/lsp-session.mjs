// Drives `flowc lsp` over stdio with vscode-languageserver-protocol (the
// client library VS Code's own language client is built on) through a
// scripted session: open, edit with errors, hover, complete, go to
// definition, find references, rename, quick fix, outline, format. The
// answers are compared with lsp-session.snap.json; set UPDATE_SNAPSHOT=1 to
// rewrite it after a deliberate change.
//
// The server binary: $FLOWC, else target/debug/flowc of this repository.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  createProtocolConnection,
  StreamMessageReader,
  StreamMessageWriter,
} from 'vscode-languageserver-protocol/node.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const flowc = process.env.FLOWC ?? join(repo, 'target', 'debug', 'flowc');
const snapshotPath = join(here, 'lsp-session.snap.json');
if (!existsSync(flowc)) {
  console.error(`lsp session: no server binary at ${flowc} (build it with \`cargo build -p flowc\` or set FLOWC)`);
  process.exit(1);
}

const uri = pathToFileURL(join(repo, 'session.flow')).href;
const text = [
  'type Reply {',
  '  text: string',
  '  urgent: bool',
  '}',
  '',
  'model fast = mock("fast")',
  '',
  '/// Answers one message.',
  'flow answer(message: string) -> string {',
  '  step reply = llm fast -> Reply { prompt: "Answer: ${message}" }',
  '  step loud = reply.text.upper()',
  '  return loud',
  '}',
  '',
].join('\n');

const server = spawn(flowc, ['lsp'], { stdio: ['pipe', 'pipe', 'inherit'] });
const connection = createProtocolConnection(
  new StreamMessageReader(server.stdout),
  new StreamMessageWriter(server.stdin),
);
const published = [];
let notify = () => {};
connection.onNotification('textDocument/publishDiagnostics', (params) => {
  published.push(params);
  notify();
});
connection.listen();

const deadline = setTimeout(() => {
  console.error('lsp session: no answer within 30 s');
  server.kill('SIGKILL');
  process.exit(1);
}, 30_000);

/// The diagnostics published for `version`.
function diagnosticsFor(version) {
  return new Promise((resolve) => {
    const look = () => {
      const found = published.find((p) => p.version === version);
      if (found) resolve(found.diagnostics);
    };
    notify = look;
    look();
  });
}

const doc = { uri };
const at = (line, character) => ({ textDocument: doc, position: { line, character } });
const session = {};

const init = await connection.sendRequest('initialize', {
  processId: process.pid,
  rootUri: pathToFileURL(repo).href,
  capabilities: { textDocument: { hover: { contentFormat: ['markdown'] } } },
});
session.serverInfo = init.serverInfo.name;
session.capabilities = Object.keys(init.capabilities).sort();
await connection.sendNotification('initialized', {});

await connection.sendNotification('textDocument/didOpen', {
  textDocument: { uri, languageId: 'flow', version: 1, text },
});
session.openDiagnostics = await diagnosticsFor(1);

// Misspell the step in `return loud` (line 11): one E0101 with a fix.
await connection.sendNotification('textDocument/didChange', {
  textDocument: { uri, version: 2 },
  contentChanges: [{ range: { start: { line: 11, character: 9 }, end: { line: 11, character: 13 } }, text: 'lod' }],
});
session.editDiagnostics = (await diagnosticsFor(2)).map((d) => ({
  code: d.code,
  range: d.range,
  severity: d.severity,
  message: d.message,
}));
session.quickFixes = (
  await connection.sendRequest('textDocument/codeAction', {
    textDocument: doc,
    range: { start: { line: 11, character: 9 }, end: { line: 11, character: 9 } },
    context: { diagnostics: [] },
  })
).map((a) => ({ title: a.title, edits: a.edit.changes[uri] }));

session.hoverStep = (await connection.sendRequest('textDocument/hover', at(10, 17))).contents.value;
session.hoverBuiltin = (await connection.sendRequest('textDocument/hover', at(10, 27))).contents.value;
session.completeAfterDot = (await connection.sendRequest('textDocument/completion', at(10, 20)))
  .slice(0, 4)
  .map((c) => `${c.label}: ${c.detail}`);
session.definition = (await connection.sendRequest('textDocument/definition', at(10, 17))).range;
session.references = (
  await connection.sendRequest('textDocument/references', { ...at(9, 8), context: { includeDeclaration: true } })
).map((l) => l.range.start);
session.prepareRename = await connection.sendRequest('textDocument/prepareRename', at(9, 8));
session.rename = (
  await connection.sendRequest('textDocument/rename', { ...at(9, 8), newName: 'answer_of_model' })
).changes[uri].map((e) => `${e.range.start.line}:${e.range.start.character} ${e.newText}`);
try {
  await connection.sendRequest('textDocument/rename', { ...at(9, 8), newName: 'return' });
  session.renameToKeyword = 'accepted';
} catch (e) {
  session.renameToKeyword = e.message;
}
session.outline = (await connection.sendRequest('textDocument/documentSymbol', { textDocument: doc })).map(
  (s) => `${s.name} [${(s.children ?? []).map((c) => `${c.name}: ${c.detail}`).join(', ')}]`,
);
session.semanticTokens = (await connection.sendRequest('textDocument/semanticTokens/full', { textDocument: doc })).data.length / 5;

// Replace the text with a messy version and format it.
await connection.sendNotification('textDocument/didChange', {
  textDocument: { uri, version: 3 },
  contentChanges: [{ text: 'flow f( x:int )->int{return x*2}\n' }],
});
await diagnosticsFor(3);
session.formatting = await connection.sendRequest('textDocument/formatting', {
  textDocument: doc,
  options: { tabSize: 2, insertSpaces: true },
});

await connection.sendRequest('shutdown');
await connection.sendNotification('exit');
const code = await new Promise((resolve) => server.on('exit', resolve));
session.exitCode = code;
clearTimeout(deadline);
connection.dispose();

const actual = JSON.stringify(session, null, 2) + '\n';
if (process.env.UPDATE_SNAPSHOT === '1' || !existsSync(snapshotPath)) {
  writeFileSync(snapshotPath, actual);
  console.log(`lsp session: wrote ${snapshotPath}`);
} else if (readFileSync(snapshotPath, 'utf8') !== actual) {
  const expected = readFileSync(snapshotPath, 'utf8').split('\n');
  const got = actual.split('\n');
  const line = got.findIndex((l, i) => l !== expected[i]);
  console.error(`lsp session: answers differ from lsp-session.snap.json at line ${line + 1}:`);
  console.error(`  expected: ${expected[line]}\n  got:      ${got[line]}`);
  console.error('(UPDATE_SNAPSHOT=1 npm run lsp rewrites it after a deliberate change)');
  process.exit(1);
} else {
  console.log(`lsp session: ${Object.keys(session).length} answers match lsp-session.snap.json`);
}
