// The explorer's commands (explorer/commands.py sends the args: `commands`, [{label, color, line}], `sweep`, the one
// sweep line or null, `sweepNote`, shown when no sweep can express the curves). Streamlit's component protocol,
// version 1, by postMessage: announce `streamlit:componentReady`, fill the page on each `streamlit:render`, report the
// height with `streamlit:setFrameHeight`. Each line is a <pre class="command"> (what the browser tests read).
"use strict";

const root = document.getElementById("commands");

function post(type, extra) {
  window.parent.postMessage(Object.assign({isStreamlitMessage: true, type: type}, extra), "*");
}

function copy(text, button) {
  const done = () => { button.textContent = "copied"; setTimeout(() => { button.textContent = "copy"; }, 1200); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => fallback(text) && done());
  } else if (fallback(text)) done();
}

function fallback(text) {  // a page served over plain http (not localhost) has no navigator.clipboard
  const area = document.createElement("textarea");
  area.value = text; document.body.append(area); area.select();
  const ok = document.execCommand("copy");
  area.remove();
  return ok;
}

function block(title, color, line) {
  const label = document.createElement("div");
  label.className = "label";
  if (color) { const swatch = document.createElement("i"); swatch.style.background = color; label.append(swatch); }
  label.append(title);
  const holder = document.createElement("div"), pre = document.createElement("pre"), button = document.createElement("button");
  holder.className = "line"; pre.className = "command"; pre.textContent = line;
  button.textContent = "copy"; button.title = "copy this command";
  button.addEventListener("click", () => copy(line, button));
  holder.append(pre, button);
  return [label, holder];
}

function render(args) {
  const parts = [];
  for (const c of args.commands || []) parts.push(...block(c.label, c.color, c.line));
  if (args.sweep) parts.push(...block("All of them in one sweep", null, args.sweep));
  else if (args.sweepNote) {
    const title = document.createElement("div"), note = document.createElement("div");
    title.className = "label"; title.textContent = "All of them in one sweep";
    note.className = "note"; note.textContent = args.sweepNote;
    parts.push(title, note);
  }
  root.replaceChildren(...parts);
  window.shown = {commands: (args.commands || []).map((c) => c.line), sweep: args.sweep || null, at: performance.now()};
  postHeight();
}

function postHeight() { post("streamlit:setFrameHeight", {height: Math.ceil(root.getBoundingClientRect().bottom) + 2}); }

window.addEventListener("message", (event) => {
  if (event.data && event.data.type === "streamlit:render") render(event.data.args);
});
// wrapped lines change the height when the page is resized
new ResizeObserver(postHeight).observe(root);
post("streamlit:componentReady", {apiVersion: 1});
