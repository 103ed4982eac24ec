"""The coloured text of the sequence view as a standalone file, for papers: SVG laid out
exactly as the page shows it (positions measured in the browser), or HTML with the same
colours. Browser code, part of the sequence widget's module.

Both files are built from the page's own nodes: corpus strings enter them as text (the
serialisers escape them), never as markup.
"""

TEXT_EXPORT_JS = """
const SVG_NS = "http://www.w3.org/2000/svg";
const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";

function av_download(name, type, content) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([content], { type }));
  link.download = name;
  link.dispatchEvent(new MouseEvent("click"));
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
}

// [{x, y, w, h, text}] runs of one line each for a text node, in the text div's coordinates
function av_runs(node, ox, oy) {
  const range = document.createRange();
  range.selectNodeContents(node);
  const rects = range.getClientRects();
  if (rects.length === 1) {
    const r = rects[0];
    return [{ x: r.left - ox, y: r.top - oy, w: r.width, h: r.height, text: node.data }];
  }
  const out = [];  // wrapped (or several lines): one run per line, measured per character
  for (let i = 0; i < node.data.length; i++) {
    if (node.data[i] === "\\n") { continue; }
    range.setStart(node, i);
    range.setEnd(node, i + 1);
    const r = range.getBoundingClientRect();
    const last = out[out.length - 1];
    if (last && Math.abs(last.y - (r.top - oy)) < 1 && r.left - ox >= last.x) {
      last.text += node.data[i];
      last.w = r.right - ox - last.x;
    } else {
      out.push({ x: r.left - ox, y: r.top - oy, w: r.width, h: r.height, text: node.data[i] });
    }
  }
  return out;
}

function av_text_svg(textDiv, title) {
  const box = textDiv.getBoundingClientRect();
  const ox = box.left, oy = box.top - textDiv.scrollTop, top = 28;
  const width = Math.ceil(textDiv.clientWidth), height = Math.ceil(textDiv.scrollHeight) + top;
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("xmlns", SVG_NS);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("font-family", FONT);
  svg.setAttribute("font-size", "14");
  const bg = document.createElementNS(SVG_NS, "rect");
  bg.setAttribute("width", width);
  bg.setAttribute("height", height);
  bg.setAttribute("fill", "white");
  svg.appendChild(bg);
  const head = document.createElementNS(SVG_NS, "text");
  head.setAttribute("x", 0);
  head.setAttribute("y", 18);
  head.setAttribute("font-weight", "600");
  head.setAttribute("fill", "#333");
  head.textContent = title;
  svg.appendChild(head);
  const walker = document.createTreeWalker(textDiv, NodeFilter.SHOW_TEXT);
  for (const span of textDiv.querySelectorAll(".av-tok")) {
    for (const r of span.getClientRects()) {
      const rect = document.createElementNS(SVG_NS, "rect");
      rect.setAttribute("class", "av-tok");
      rect.setAttribute("x", (r.left - ox).toFixed(2));
      rect.setAttribute("y", (r.top - oy + top).toFixed(2));
      rect.setAttribute("width", r.width.toFixed(2));
      rect.setAttribute("height", r.height.toFixed(2));
      rect.setAttribute("rx", 3);
      rect.setAttribute("fill", span.style.backgroundColor);
      svg.appendChild(rect);
    }
  }
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const run of av_runs(node, ox, oy)) {
      if (!run.text.trim()) { continue; }
      const t = document.createElementNS(SVG_NS, "text");
      t.setAttribute("x", run.x.toFixed(2));
      t.setAttribute("y", (run.y + top + run.h / 2).toFixed(2));
      t.setAttribute("dominant-baseline", "central");
      t.setAttribute("xml:space", "preserve");
      t.setAttribute("fill", "#222");
      t.textContent = run.text;
      svg.appendChild(t);
    }
  }
  return '<?xml version="1.0" encoding="UTF-8"?>\\n' + new XMLSerializer().serializeToString(svg);
}

function av_text_html(textDiv, title) {
  const doc = document.implementation.createHTMLDocument(title);
  const meta = doc.createElement("meta");
  meta.setAttribute("charset", "utf-8");
  doc.head.appendChild(meta);
  const style = doc.createElement("style");
  style.textContent = `body { font-family: ${FONT}; font-size: 14px; margin: 24px; }
    h1 { font-size: 14px; font-weight: 600; color: #333; }
    .av-text { line-height: 1.9; white-space: pre-wrap; max-width: ${textDiv.clientWidth}px; }
    .av-tok { border-radius: 3px; padding: 1px 0; }`;
  doc.head.appendChild(style);
  const h = doc.createElement("h1");
  h.textContent = title;
  doc.body.appendChild(h);
  const copy = doc.importNode(textDiv, true);
  copy.removeAttribute("style");
  for (const n of copy.querySelectorAll(".av-marked, .av-tapped")) {
    n.classList.remove("av-marked", "av-tapped");
  }
  doc.body.appendChild(copy);
  return "<!DOCTYPE html>\\n" + doc.documentElement.outerHTML;
}
"""
