// The Flow extension: the language itself (grammar, brackets, comments) is
// declared in package.json; this starts the language server, `flowc lsp`,
// over stdio and restarts it when `flow.server.path` changes.
'use strict';

const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

/** @type {LanguageClient | undefined} */
let client;

function serverCommand() {
  const configured = vscode.workspace.getConfiguration('flow').get('server.path');
  return typeof configured === 'string' && configured.trim() !== '' ? configured.trim() : 'flowc';
}

async function startServer() {
  const command = serverCommand();
  // No `transport` option: with one, the client would add `--stdio` to the arguments.
  const server = { command, args: ['lsp'] };
  client = new LanguageClient(
    'flow',
    'Flow Language Server',
    { run: server, debug: server },
    {
      documentSelector: [
        { scheme: 'file', language: 'flow' },
        { scheme: 'untitled', language: 'flow' },
      ],
    },
  );
  try {
    await client.start();
  } catch (error) {
    client = undefined;
    const message = error instanceof Error ? error.message : String(error);
    vscode.window.showErrorMessage(
      `Flow: could not start the language server (\`${command} lsp\`): ${message}. ` +
        'Install flowc or set "flow.server.path" to where it is.',
    );
  }
}

async function stopServer() {
  const running = client;
  client = undefined;
  if (running) await running.stop();
}

async function restartServer() {
  await stopServer();
  await startServer();
}

/** @param {vscode.ExtensionContext} context */
async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('flow.restartServer', restartServer),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('flow.server.path')) restartServer();
    }),
  );
  await startServer();
}

function deactivate() {
  return stopServer();
}

module.exports = { activate, deactivate };
