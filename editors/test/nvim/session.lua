-- End-to-end test of `flowc lsp` through Neovim's built-in LSP client
-- (written for Neovim 0.7, Debian 12's version; also fine on newer ones).
--
-- Run by editors/test/nvim.sh:
--   FLOWC=/path/to/flowc nvim --headless --clean -c 'luafile editors/test/nvim/session.lua'
--
-- Opens session.in (next to this file; a .flow file left unformatted on purpose), checks that it has no diagnostics,
-- misspells a step so that E0101 appears, then asks for hover, completion,
-- definition and formatting, and stops the server. One line per check on
-- stdout ("ok ..."); any failure prints "FAIL ..." and exits with status 1.
-- Every wait is bounded, so the script cannot hang.
--
-- FLOWC_LSP_LOG=debug makes the client log every message to the LSP log
-- (its path is printed at the end, with any error lines written this run).

local flowc = os.getenv('FLOWC') or 'flowc'
local here = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h')
local fixture = here .. '/session.in'
local WAIT = 10000 -- ms, for every wait below

local function out(line)
  io.stdout:write(line .. '\n')
  io.stdout:flush()
end

local function fail(msg)
  error({ flow_fail = msg }, 0)
end

local function check(cond, what, detail)
  if not cond then
    fail(what .. (detail and (': ' .. detail) or ''))
  end
end

local function show(v)
  return vim.inspect(v, { newline = ' ', indent = '' })
end

-- 0-based positions in session.in (see the fixture).
local L_REPLY_DEF = 14 -- `  step reply = llm fast -> Reply { ... }`
local L_LOUD = 15 --      `  step loud   =   reply.text.upper()` (not formatted)
local C_REPLY_USE = 18 -- the `reply` in that line
local C_AFTER_DOT = 24 -- just after `reply.`
local L_RETURN = 17 --    `  return loud`

local log_path = vim.lsp.get_log_path()
local log_start = vim.fn.getfsize(log_path)
if log_start < 0 then
  log_start = 0
end
vim.lsp.set_log_level(os.getenv('FLOWC_LSP_LOG') or 'warn')

-- The raw publishDiagnostics notifications, besides Neovim's own handling.
local published = {}
local exit_code, exit_signal

local function run()
  check(vim.fn.executable(flowc) == 1, 'server binary', 'not executable: ' .. flowc)
  check(vim.fn.filereadable(fixture) == 1, 'fixture', 'missing: ' .. fixture)

  vim.cmd('edit ' .. vim.fn.fnameescape(fixture))
  local buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].filetype = 'flow'
  local uri = vim.uri_from_bufnr(buf)

  local initialized = false
  local client_id = vim.lsp.start_client({
    name = 'flowc',
    cmd = { flowc, 'lsp' },
    root_dir = here,
    on_init = function()
      initialized = true
    end,
    on_exit = function(code, signal)
      exit_code, exit_signal = code, signal
    end,
    handlers = {
      ['textDocument/publishDiagnostics'] = function(err, result, ctx, config)
        table.insert(published, result)
        return vim.lsp.handlers['textDocument/publishDiagnostics'](err, result, ctx, config)
      end,
    },
  })
  check(client_id, 'start', 'vim.lsp.start_client returned nil')
  check(vim.lsp.buf_attach_client(buf, client_id), 'attach', 'vim.lsp.buf_attach_client failed')
  check(vim.wait(WAIT, function()
    return initialized
  end, 20), 'initialize', 'no initialize answer within ' .. WAIT .. ' ms')
  out('ok initialize')

  -- The server publishes for the opened document: nothing to report.
  check(vim.wait(WAIT, function()
    return #published > 0
  end, 20), 'open diagnostics', 'nothing published within ' .. WAIT .. ' ms')
  local first = published[1]
  check(first.uri == uri, 'open diagnostics', 'published for ' .. tostring(first.uri) .. ', expected ' .. uri)
  check(#first.diagnostics == 0, 'open diagnostics', show(first.diagnostics))
  check(#vim.diagnostic.get(buf) == 0, 'open diagnostics', show(vim.diagnostic.get(buf)))
  out('ok open: no diagnostics')

  -- Misspell the step in `return loud`: one E0101 on that line.
  local before = #published
  vim.api.nvim_buf_set_lines(buf, L_RETURN, L_RETURN + 1, true, { '  return lod' })
  local diags
  check(vim.wait(WAIT, function()
    diags = vim.diagnostic.get(buf)
    return #diags > 0
  end, 20), 'edit diagnostics', 'no diagnostic within ' .. WAIT .. ' ms (publishes after the edit: '
    .. (#published - before) .. ')')
  check(#diags == 1, 'edit diagnostics', 'expected one, got ' .. show(diags))
  local d = diags[1]
  check(d.code == 'E0101', 'edit diagnostics', 'code ' .. show(d.code) .. ', expected E0101')
  check(d.lnum == L_RETURN, 'edit diagnostics', 'line ' .. d.lnum .. ', expected ' .. L_RETURN)
  check(d.col == 9 and d.end_col == 12, 'edit diagnostics', 'columns ' .. d.col .. '-' .. tostring(d.end_col)
    .. ', expected 9-12 (`lod`)')
  check(d.source == 'flowc', 'edit diagnostics', 'source ' .. show(d.source))
  check(d.severity == vim.diagnostic.severity.ERROR, 'edit diagnostics', 'severity ' .. show(d.severity))
  out(('ok diagnostic %s at %d:%d: %s'):format(d.code, d.lnum, d.col, (d.message:gsub('\n', ' | '))))

  -- Put it back: the diagnostic goes away again.
  vim.api.nvim_buf_set_lines(buf, L_RETURN, L_RETURN + 1, true, { '  return loud' })
  check(vim.wait(WAIT, function()
    return #vim.diagnostic.get(buf) == 0
  end, 20), 'fix diagnostics', 'still ' .. show(vim.diagnostic.get(buf)))
  out('ok fixed: no diagnostics')

  local function request(method, params)
    local answers, err = vim.lsp.buf_request_sync(buf, method, params, WAIT)
    check(answers, method, 'no answer: ' .. tostring(err))
    local a = answers[client_id]
    check(a, method, 'no answer from the flowc client')
    check(not a.err and not a.error, method, 'error ' .. show(a.err or a.error))
    return a.result
  end
  local function at(line, character)
    return { textDocument = { uri = uri }, position = { line = line, character = character } }
  end

  -- Hover on the use of `reply`: its type, in a flow code block.
  local hover = request('textDocument/hover', at(L_LOUD, C_REPLY_USE))
  check(hover and hover.contents, 'hover', 'empty: ' .. show(hover))
  local contents = hover.contents
  check(type(contents) == 'table' and contents.kind == 'markdown', 'hover', 'not markdown: ' .. show(contents))
  check(contents.value:find('```flow', 1, true), 'hover', 'no flow code block: ' .. show(contents.value))
  check(contents.value:find('Reply', 1, true), 'hover', 'type Reply not shown: ' .. show(contents.value))
  if hover.range then
    local r = hover.range
    check(r.start.line == L_LOUD and r.start.character == C_REPLY_USE and r['end'].character == C_REPLY_USE + 5,
      'hover', 'range ' .. show(r))
  end
  out('ok hover: ' .. contents.value:gsub('\n', '\\n'))

  -- Completion just after `reply.`: Reply's fields.
  local completion = request('textDocument/completion', vim.tbl_extend('force', at(L_LOUD, C_AFTER_DOT), {
    context = { triggerKind = 2, triggerCharacter = '.' },
  }))
  check(completion, 'completion', 'empty')
  local items = completion.items or completion
  local labels = {}
  for _, item in ipairs(items) do
    labels[item.label] = item
  end
  check(labels.text and labels.urgent, 'completion', 'fields text/urgent not offered: '
    .. show(vim.tbl_map(function(i)
      return i.label
    end, items)))
  out(('ok completion: %d items, text: %s, urgent: %s'):format(#items, tostring(labels.text.detail),
    tostring(labels.urgent.detail)))

  -- The same while typing: a new line that ends in `reply.` does not parse,
  -- and the fields are still offered.
  local typed = '  step x = reply.'
  vim.api.nvim_buf_set_lines(buf, L_LOUD + 1, L_LOUD + 1, true, { typed })
  completion = request('textDocument/completion', vim.tbl_extend('force', at(L_LOUD + 1, #typed), {
    context = { triggerKind = 2, triggerCharacter = '.' },
  }))
  items = completion and (completion.items or completion) or {}
  labels = {}
  for _, item in ipairs(items) do
    labels[item.label] = item
  end
  check(labels.text and labels.urgent, 'completion while typing', 'fields text/urgent not offered: '
    .. show(vim.tbl_map(function(i)
      return i.label
    end, items)))
  local typing_diags
  vim.wait(WAIT, function()
    typing_diags = vim.diagnostic.get(buf)
    return #typing_diags > 0
  end, 20)
  vim.api.nvim_buf_set_lines(buf, L_LOUD + 1, L_LOUD + 2, true, {})
  check(vim.wait(WAIT, function()
    return #vim.diagnostic.get(buf) == 0
  end, 20), 'completion while typing', 'diagnostics stay after the line is removed: '
    .. show(vim.diagnostic.get(buf)))
  out(('ok completion while typing: %d items; diagnostics meanwhile: %s'):format(#items, show(vim.tbl_map(function(x)
    return ('%s %d:%d %s'):format(tostring(x.code), x.lnum, x.col, (x.message:gsub('\n.*', '')))
  end, typing_diags))))

  -- Definition of the use of `reply`: its step.
  local def = request('textDocument/definition', at(L_LOUD, C_REPLY_USE))
  check(def, 'definition', 'empty')
  if def.uri or def.targetUri then
    def = { def }
  end
  check(#def == 1, 'definition', 'expected one location: ' .. show(def))
  local loc = def[1]
  local range = loc.targetSelectionRange or loc.range
  check((loc.uri or loc.targetUri) == uri, 'definition', 'uri ' .. show(loc.uri or loc.targetUri))
  check(range.start.line == L_REPLY_DEF, 'definition', 'line ' .. range.start.line .. ', expected ' .. L_REPLY_DEF)
  out(('ok definition: %d:%d-%d:%d'):format(range.start.line, range.start.character, range['end'].line,
    range['end'].character))

  -- Formatting: the badly spaced step comes back fixed; applied, the buffer
  -- equals `flowc fmt`'s output and has no diagnostics.
  local edits = request('textDocument/formatting', {
    textDocument = { uri = uri },
    options = { tabSize = 2, insertSpaces = true },
  })
  check(edits and #edits > 0, 'formatting', 'no edits for an unformatted buffer')
  vim.lsp.util.apply_text_edits(edits, buf, 'utf-16')
  local got = vim.api.nvim_buf_get_lines(buf, L_LOUD, L_LOUD + 1, true)[1]
  check(got == '  step loud = reply.text.upper()', 'formatting', 'line after the edits: ' .. show(got))
  local text = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, true), '\n') .. '\n'
  local expected = vim.fn.system({ flowc, 'fmt', '-' }, vim.fn.readfile(fixture))
  check(vim.v.shell_error == 0, 'formatting', '`flowc fmt -` failed: ' .. expected)
  check(text == expected, 'formatting', 'buffer differs from `flowc fmt` output:\n' .. text)
  out(('ok formatting: %d edit(s), buffer matches flowc fmt'):format(#edits))

  -- Stop: the server answers shutdown and exits 0.
  vim.lsp.stop_client(client_id)
  check(vim.wait(WAIT, function()
    return exit_code ~= nil
  end, 20), 'stop', 'server still running after ' .. WAIT .. ' ms')
  check(exit_code == 0 and (exit_signal or 0) == 0, 'stop', 'exit code ' .. tostring(exit_code) .. ', signal '
    .. tostring(exit_signal))
  out('ok stop: server exited 0')
end

local function log_errors()
  local f = io.open(log_path, 'r')
  if not f then
    return {}
  end
  f:seek('set', log_start)
  local lines = {}
  for line in f:lines() do
    if line:match('^%[ERROR%]') or line:match('^%[WARN') then
      table.insert(lines, line)
    end
  end
  f:close()
  return lines
end

local ok, err = pcall(run)
local errors = log_errors()
for _, line in ipairs(errors) do
  out('lsp log: ' .. line)
end
out('lsp log: ' .. log_path .. ' (' .. #errors .. ' error/warning lines this run)')
if ok then
  out('nvim lsp session: all checks passed')
  vim.cmd('qall!')
else
  local msg = type(err) == 'table' and err.flow_fail or ('script error: ' .. tostring(err))
  out('FAIL ' .. msg)
  for _, client in ipairs(vim.lsp.get_active_clients()) do
    pcall(client.stop, true)
  end
  vim.cmd('cquit 1')
end
