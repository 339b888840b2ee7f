"""markdown: renders a Markdown subset to HTML with the standard library only.

Request: {"text": "# Title\\n\\nSome *emphasis*, `code` and a [link](http://x)."}
Response: {"html": "...", "headings": N, "words": N}
Supported: ATX headings (#..######), paragraphs, unordered (-, *) and ordered (1.) lists,
fenced code blocks (```), block quotes (>), horizontal rules (---), and inline **strong**,
*emphasis*, `code` and [text](url). All text is HTML-escaped.
"""
import html
import re

_INLINE = [
    (re.compile(r"`([^`]+)`"), lambda m: "<code>" + m.group(1) + "</code>"),
    (re.compile(r"\*\*([^*]+)\*\*"), lambda m: "<strong>" + m.group(1) + "</strong>"),
    (re.compile(r"\*([^*]+)\*"), lambda m: "<em>" + m.group(1) + "</em>"),
    (re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)"),
     lambda m: '<a href="' + m.group(2) + '">' + m.group(1) + "</a>"),
]


def _inline(text):
    out = html.escape(text, quote=True)
    for pattern, repl in _INLINE:
        out = pattern.sub(repl, out)
    return out


def render(text):
    """Returns (html, number of headings)."""
    out, para, items, list_tag, headings = [], [], [], None, 0
    lines = text.replace("\r\n", "\n").split("\n")

    def flush():
        nonlocal list_tag
        if para:
            out.append("<p>" + _inline(" ".join(para)) + "</p>")
            para.clear()
        if items:
            out.append("<%s>%s</%s>" % (list_tag, "".join("<li>" + _inline(i) + "</li>" for i in items), list_tag))
            items.clear()
            list_tag = None

    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            code = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                code.append(lines[i])
                i += 1
            out.append("<pre><code>" + html.escape("\n".join(code)) + "</code></pre>")
        elif not stripped:
            flush()
        elif m := re.match(r"^(#{1,6})\s+(.*)$", stripped):
            flush()
            level = len(m.group(1))
            headings += 1
            out.append("<h%d>%s</h%d>" % (level, _inline(m.group(2).rstrip("#").strip()), level))
        elif re.match(r"^(-{3,}|\*{3,})$", stripped):
            flush()
            out.append("<hr>")
        elif m := re.match(r"^[-*]\s+(.*)$", stripped):
            if para or list_tag == "ol":
                flush()
            list_tag = "ul"
            items.append(m.group(1))
        elif m := re.match(r"^\d+\.\s+(.*)$", stripped):
            if para or list_tag == "ul":
                flush()
            list_tag = "ol"
            items.append(m.group(1))
        elif stripped.startswith(">"):
            flush()
            out.append("<blockquote>" + _inline(stripped.lstrip(">").strip()) + "</blockquote>")
        else:
            if items:
                flush()
            para.append(stripped)
        i += 1
    flush()
    return "\n".join(out), headings


def handle(request):
    text = request.get("text", "") if isinstance(request, dict) else str(request)
    body, headings = render(text)
    return {"html": body, "headings": headings, "words": len(text.split())}
