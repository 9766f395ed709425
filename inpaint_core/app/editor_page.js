// The page script of the app's painting editors (gr.ImageEditor), run once when the page loads
// (app.py: demo.load(js=...)). It adds what painters expect from other editors, by driving the
// editor's own controls, so Gradio keeps its state (history, brush, colours) as if clicked:
//
//   Ctrl+Z / Ctrl+Shift+Z (or Ctrl+Y)  the editor's Undo / Redo buttons
//   [ and ]                            the brush (or eraser) size slider, one step down / up
//   Ctrl + mouse wheel                 zoom, as Alt + wheel does in Gradio's editor
//   the size slider                    shows the brush's width in pixels of the picture
//   a land-cover legend with data-palette-for="<editor id>"
//                                      clicking a class picks its colour in that editor
//   an empty editor                    says where its picture comes from
//
// `settings` comes from app.py: {editor: CSS class of the editors, scale_suffix: the suffix of
// the hidden number beside an editor holding picture pixels per editor pixel, empty: {editor
// id: text shown while that editor is empty}}. A key is left alone while the focus is in a text
// field. The keys act on the editor last pointed at, else the first one on screen.
(settings) => {
  if (window.studioEditorPage) return;
  window.studioEditorPage = true;
  const EDITOR = "." + settings.editor;
  let active = null;

  const visible = (el) => !!el && el.offsetParent !== null;
  const editors = () => [...document.querySelectorAll(EDITOR)];
  const current = () => (visible(active) ? active : editors().find(visible) || null);
  const button = (ed, label) => ed.querySelector(`button[aria-label="${label}"]`);
  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
  async function waitFor(find, ms = 3000) {
    for (let waited = 0; waited <= ms; waited += 50) {
      const found = find();
      if (found) return found;
      await sleep(50);
    }
    return null;
  }
  const typing = (t) =>
    !!t && (t.isContentEditable || t.tagName === "TEXTAREA" || t.tagName === "SELECT" ||
            (t.tagName === "INPUT" && !["range", "checkbox", "radio", "button"].includes(t.type)));

  // the empty editor's text, instead of Gradio's "select the draw tool to start"
  const style = document.createElement("style");
  style.textContent = Object.entries(settings.empty || {}).map(([id, text]) =>
    `#${id} .empty.wrap > * { display: none; }\n` +
    `#${id} .empty.wrap::after { content: ${JSON.stringify(text)}; padding: 0 2em; text-align: center; }`
  ).join("\n") + `\n.studio-brush-px { min-width: 4.5em; white-space: nowrap; font-variant-numeric: tabular-nums; }`;
  document.head.appendChild(style);

  const remember = (e) => {
    const ed = e.target.closest && e.target.closest(EDITOR);
    if (ed) active = ed;
  };
  document.addEventListener("pointerdown", remember, true);
  document.addEventListener("pointerover", remember, true);

  // picture pixels per editor pixel (a big photo is painted on a smaller copy)
  function scale(ed) {
    const field = ed.id && document.querySelector(`#${ed.id}${settings.scale_suffix} input`);
    const value = field ? parseFloat(field.value) : NaN;
    return value > 0 ? value : 1;
  }

  // the slider's value is the brush radius in editor pixels; people think in widths on the picture
  function showSize(ed) {
    const range = ed.querySelector('input[type="range"]');
    if (!range) return;
    let out = range.parentElement.querySelector(".studio-brush-px");
    if (!out) {
      out = document.createElement("output");
      out.className = "studio-brush-px";
      out.title = "brush width in pixels of the picture";
      range.after(out);
    }
    const text = `${Math.round(2 * Number(range.value) * scale(ed))} px`;
    if (out.textContent !== text) out.textContent = text; // unchanged text: no mutation, no loop
  }

  async function resize(ed, grow) {
    let range = ed.querySelector('input[type="range"]');
    if (!range) {
      const open = button(ed, "Brush Size") || button(ed, "Eraser Size");
      if (!open) return;
      open.click();
      range = await waitFor(() => ed.querySelector('input[type="range"]'), 1000);
      if (!range) return;
    }
    const now = Number(range.value);
    const low = Number(range.min) || 1, high = Number(range.max) || 100;
    const step = Math.max(1, Math.round(now * 0.15));
    const next = Math.min(high, Math.max(low, now + (grow ? step : -step)));
    if (next !== now) {
      range.value = String(next);
      range.dispatchEvent(new Event("input", { bubbles: true }));
      range.dispatchEvent(new Event("change", { bubbles: true }));
    }
    showSize(ed);
  }

  document.addEventListener("keydown", (e) => {
    if (typing(e.target)) return;
    const key = e.key.toLowerCase();
    const command = e.ctrlKey || e.metaKey;
    if (command && !e.altKey && (key === "z" || key === "y")) {
      const ed = current();
      const target = ed && button(ed, key === "y" || e.shiftKey ? "Redo" : "Undo");
      if (!target) return;
      e.preventDefault();
      if (!target.disabled) target.click();
    } else if (!command && !e.altKey && (e.key === "[" || e.key === "]")) {
      const ed = current();
      if (!ed) return;
      e.preventDefault();
      resize(ed, e.key === "]");
    }
  });

  document.addEventListener("input", (e) => {
    const ed = e.target.closest && e.target.closest(EDITOR);
    if (ed && e.target.type === "range") showSize(ed);
  }, true);

  // Ctrl + wheel over a canvas: the editor's own zoom (Alt + wheel) instead of the page's
  document.addEventListener("wheel", (e) => {
    if (!e.isTrusted || !e.ctrlKey || e.altKey || e.target.tagName !== "CANVAS") return;
    if (!(e.target.closest && e.target.closest(EDITOR))) return;
    e.preventDefault();
    e.stopPropagation();
    e.target.dispatchEvent(new WheelEvent("wheel", {
      deltaX: e.deltaX, deltaY: e.deltaY, deltaMode: e.deltaMode, clientX: e.clientX, clientY: e.clientY,
      screenX: e.screenX, screenY: e.screenY, altKey: true, bubbles: true, cancelable: true,
    }));
  }, { capture: true, passive: false });

  // a land-cover legend as the palette: the class's colour through the editor's own swatches
  const rgb = (hex) => {
    const n = parseInt(hex.slice(1), 16);
    return `rgb(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255})`;
  };
  async function pick(item) {
    const legend = item.closest("[data-palette-for]");
    const ed = document.getElementById(legend.dataset.paletteFor);
    const tab = document.querySelector(`button[role="tab"][data-tab-id="${legend.dataset.paletteFor}-tab"]`);
    if (tab && !(ed && visible(ed))) tab.click();
    const editor = await waitFor(() => {
      const found = document.getElementById(legend.dataset.paletteFor);
      return visible(found) && (button(found, "Color") || button(found, "Brush")) ? found : null;
    });
    if (!editor) return;
    active = editor;
    if (!button(editor, "Color")) button(editor, "Brush").click();
    const colour = await waitFor(() => button(editor, "Color"));
    if (!colour) return;
    colour.click();
    const want = rgb(item.dataset.colour);
    const swatch = await waitFor(() =>
      [...editor.querySelectorAll(".color")].find((s) => getComputedStyle(s).backgroundColor === want));
    if (!swatch) return;
    swatch.click();
    // close the colour popup as a click beside it would (Gradio listens for mousedown outside)
    document.body.dispatchEvent(new MouseEvent("mousedown", { bubbles: true }));
    for (const other of legend.querySelectorAll("[data-colour]")) {
      const chosen = other === item;
      other.setAttribute("aria-pressed", String(chosen));
      other.style.borderColor = chosen ? "var(--color-accent)" : "transparent";
    }
  }
  document.addEventListener("click", (e) => {
    const item = e.target.closest && e.target.closest("[data-palette-for] [data-colour]");
    if (item) pick(item);
  });

  // whenever the page changes: the size's number beside an open slider, and the class names
  // on the swatches of a palette's editor
  function names() {
    for (const legend of document.querySelectorAll("[data-palette-for]")) {
      const ed = document.getElementById(legend.dataset.paletteFor);
      if (!ed) continue;
      const byColour = {};
      for (const item of legend.querySelectorAll("[data-colour]")) byColour[rgb(item.dataset.colour)] = item.textContent;
      for (const swatch of ed.querySelectorAll(".color")) {
        const name = byColour[getComputedStyle(swatch).backgroundColor];
        if (name && swatch.title !== name) swatch.title = name;
      }
    }
  }
  new MutationObserver(() => {
    editors().forEach(showSize);
    names();
  }).observe(document.body, { childList: true, subtree: true });
}
