#!/usr/bin/env python3
"""Write the deterministic benchmark site into DIR.

    make_site.py DIR

  index.html  exactly 1,024 bytes of HTML
  app.js      exactly 102,400 bytes of JavaScript-like text that gzip -9 shrinks about 4x
  site.css    exactly 51,200 bytes of stylesheet rules (the CSS row of Benchmarks/codings.sh)
  big.bin     exactly 10 MiB of incompressible bytes

Everything comes from a fixed seed, so every run (and every machine) gets byte-identical files.
The .gz sidecar and app2.js are made by compare.sh with gzip/cp.
"""
import random
import sys
from pathlib import Path

SEED = 20261127


def repeat_until(size: int, make) -> bytes:
    """Pieces from `make()` until there are `size` bytes, cut to exactly `size`."""
    out = []
    total = 0
    while total < size:
        piece = make()
        out.append(piece)
        total += len(piece)
    return "".join(out).encode()[:size]


def index_html() -> bytes:
    head = (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<title>Swerve benchmark</title>\n<link rel=\"stylesheet\" href=\"/site.css\">\n"
        "<script defer src=\"/app.js\"></script>\n</head>\n<body>\n<h1>Swerve benchmark page</h1>\n<p>"
    )
    tail = "</p>\n</body>\n</html>\n"
    filler = "The quick brown fox jumps over the lazy dog. "
    body = (filler * 40)[: 1024 - len(head) - len(tail)]
    page = (head + body + tail).encode()
    assert len(page) == 1024, len(page)
    return page


def app_js(size: int = 100 * 1024) -> bytes:
    """Function after function of plausible JavaScript built from a limited vocabulary.

    Real minified bundles gzip 3-5x; the identifier pool (120 names) and the small random numbers below were sized so that
    `gzip -9` lands near 4x.
    """
    rng = random.Random(SEED)
    letters = "abcdefghijklmnopqrstuvwxyz"
    idents = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(120)]
    words = ["render", "state", "props", "value", "index", "result", "error", "config", "handler", "module",
             "element", "request", "response", "buffer", "options", "callback", "promise", "cache", "node"]
    stmts = [
        lambda: f"const {rng.choice(idents)} = {rng.choice(idents)}.{rng.choice(words)}({rng.randint(0, 99)});",
        lambda: f"let {rng.choice(idents)} = [{', '.join(str(rng.randint(0, 63)) for _ in range(rng.randint(1, 6)))}];",
        lambda: f"if ({rng.choice(idents)} {rng.choice(['===', '!==', '<', '>='])} {rng.randint(0, 999)}) "
                f"{{ return {rng.choice(idents)}; }}",
        lambda: f"{rng.choice(idents)}.{rng.choice(words)} = \"{rng.choice(idents)}-{rng.randint(0, 0xFF):02x}\";",
        lambda: f"for (let i = 0; i < {rng.randint(1, 64)}; i++) {{ {rng.choice(idents)}[i] += {rng.choice(idents)}(i); }}",
        lambda: f"await {rng.choice(idents)}.{rng.choice(words)}({rng.choice(idents)}, {{ {rng.choice(words)}: {rng.randint(0, 99)} }});",
    ]
    def function() -> str:
        name = rng.choice(idents)
        args = ", ".join(rng.sample(idents, rng.randint(0, 3)))
        body = "\n".join("  " + rng.choice(stmts)() for _ in range(rng.randint(2, 7)))
        return f"export function {name}({args}) {{\n{body}\n}}\n\n"
    return repeat_until(size, function)


def site_css(size: int = 50 * 1024) -> bytes:
    """Rule after rule of plausible CSS: class names from a pool, the usual properties, a palette, small values."""
    rng = random.Random(SEED + 1)
    letters = "abcdefghijklmnopqrstuvwxyz"
    classes = ["-".join("".join(rng.choice(letters) for _ in range(rng.randint(3, 8))) for _ in range(rng.randint(1, 3)))
               for _ in range(150)]
    # A site's palette, not random colours: real stylesheets repeat a few dozen values.
    palette = [f"#{rng.randint(0, 0xFFFFFF):06x}" for _ in range(24)]
    props = [
        lambda: f"margin: {rng.randint(0, 48)}px {rng.randint(0, 48)}px;",
        lambda: f"padding: {rng.randint(0, 32)}px;",
        lambda: f"color: {rng.choice(palette)};",
        lambda: f"background-color: {rng.choice(palette)};",
        lambda: f"font-size: {rng.choice(['0.75', '0.875', '1', '1.125', '1.25', '1.5', '2'])}rem;",
        lambda: f"display: {rng.choice(['flex', 'grid', 'block', 'inline-block', 'none'])};",
        lambda: f"border: {rng.randint(1, 4)}px solid {rng.choice(palette)};",
        lambda: f"transition: {rng.choice(['opacity', 'transform', 'color'])} {rng.randint(1, 9) * 50}ms ease-in-out;",
        lambda: f"grid-template-columns: repeat({rng.randint(1, 12)}, minmax(0, 1fr));",
    ]
    def rule() -> str:
        selector = ", ".join("." + rng.choice(classes) + rng.choice(["", ":hover", " > a", "::before", " .active"])
                             for _ in range(rng.randint(1, 3)))
        body = "\n".join("  " + rng.choice(props)() for _ in range(rng.randint(2, 6)))
        return f"{selector} {{\n{body}\n}}\n"
    return repeat_until(size, rule)


def big_bin(size: int = 10 * 1024 * 1024) -> bytes:
    return random.Random(SEED).randbytes(size)


def main() -> None:
    site = Path(sys.argv[1])
    site.mkdir(parents=True, exist_ok=True)
    (site / "index.html").write_bytes(index_html())
    (site / "app.js").write_bytes(app_js())
    (site / "site.css").write_bytes(site_css())
    (site / "big.bin").write_bytes(big_bin())


if __name__ == "__main__":
    main()
