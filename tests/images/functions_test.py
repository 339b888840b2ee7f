#!/usr/bin/env python3
"""unit: the example functions in functions/*/handler.py, run with the host's python3.

Each handler is loaded from its file (as the guest agent will load it from /srv) and called with
requests whose answers are known independently of the handler's code.
"""
import base64
import importlib.util
import json
import pathlib
import statistics
import sys
import unittest

FUNCTIONS = pathlib.Path(__file__).resolve().parents[2] / "functions"


def load(name):
    spec = importlib.util.spec_from_file_location("handler_" + name, FUNCTIONS / name / "handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handle


def roundtrip(value):
    """The response must be JSON-serialisable: what the agent will send back."""
    return json.loads(json.dumps(value))


class HelloEcho(unittest.TestCase):
    def test_hello(self):
        self.assertEqual(roundtrip(load("hello")({})), {"body": "hello, world!"})

    def test_echo_returns_the_request(self):
        request = {"a": [1, 2, {"b": None}], "s": "ünïcode", "n": 1.5}
        self.assertEqual(roundtrip(load("echo")(request)), request)


class Markdown(unittest.TestCase):
    def test_document(self):
        text = ("# Title\n\nSome *emphasis* and **strong** `x<y`.\n\n- one\n- [two](http://t)\n\n"
                "1. first\n2. second\n\n```\n<raw> & code\n```\n\n> quoted\n\n---\n## Sub ##\n")
        out = roundtrip(load("markdown")({"text": text}))
        self.assertEqual(out["html"], "\n".join([
            "<h1>Title</h1>",
            "<p>Some <em>emphasis</em> and <strong>strong</strong> <code>x&lt;y</code>.</p>",
            '<ul><li>one</li><li><a href="http://t">two</a></li></ul>',
            "<ol><li>first</li><li>second</li></ol>",
            "<pre><code>&lt;raw&gt; &amp; code</code></pre>",
            "<blockquote>quoted</blockquote>",
            "<hr>",
            "<h2>Sub</h2>",
        ]))
        self.assertEqual(out["headings"], 2)
        self.assertEqual(out["words"], len(text.split()))

    def test_escapes_html(self):
        out = load("markdown")({"text": "<script>alert(1)</script>"})
        self.assertEqual(out["html"], "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>")


class Aggregate(unittest.TestCase):
    def test_groups(self):
        eu = [float(v) for v in range(1, 21)]
        us = [5.0, 7.0]
        records = [{"region": "eu", "ms": v} for v in eu] + [{"region": "us", "ms": v} for v in us]
        records += [{"ms": 1.0}, {"region": "eu", "ms": "x"}, {"region": "eu", "ms": True}, 7]
        out = roundtrip(load("aggregate")({"records": records, "group_by": "region", "field": "ms"}))
        self.assertEqual(out["total"], len(records))
        self.assertEqual(out["skipped"], 4)
        self.assertEqual(sorted(out["groups"]), ["eu", "us"])
        g = out["groups"]["eu"]
        self.assertEqual((g["count"], g["sum"], g["min"], g["max"]), (20, 210.0, 1.0, 20.0))
        self.assertAlmostEqual(g["mean"], 10.5)
        self.assertEqual((g["p50"], g["p95"]), (10.0, 19.0))  # nearest rank: ceil(.5*20)=10, ceil(.95*20)=19
        self.assertAlmostEqual(g["stdev"], statistics.pstdev(eu))
        self.assertEqual(out["groups"]["us"]["mean"], 6.0)


class Thumbnail(unittest.TestCase):
    def test_uniform_image(self):
        # A uniform colour stays uniform through grayscale, blur and downscale:
        # gray = (299*200 + 587*100 + 114*50) // 1000 = 124.
        ppm = b"P6\n# comment\n6 4\n255\n" + bytes([200, 100, 50]) * 24
        out = roundtrip(load("thumbnail")({"ppm": base64.b64encode(ppm).decode(), "scale": 2}))
        self.assertEqual((out["width"], out["height"]), (3, 2))
        pgm = base64.b64decode(out["pgm"])
        self.assertEqual(pgm, b"P5\n3 2\n255\n" + bytes([124]) * 6)
        self.assertEqual(out["mean"], 124)

    def test_blur_of_a_single_bright_pixel(self):
        # 3x3 black image, centre white: every pixel's 3x3 neighbourhood contains the centre once.
        rgb = bytearray(27)
        rgb[12:15] = b"\xff\xff\xff"
        out = load("thumbnail")({"ppm": base64.b64encode(b"P6 3 3 255\n" + bytes(rgb)).decode(), "scale": 1})
        pixels = base64.b64decode(out["pgm"])[len(b"P5\n3 3\n255\n"):]
        corner, edge, centre = 255 // 4, 255 // 6, 255 // 9
        self.assertEqual(list(pixels), [corner, edge, corner, edge, centre, edge, corner, edge, corner])

    def test_generated_image_is_deterministic(self):
        handle = load("thumbnail")
        a = handle({"width": 32, "height": 16, "seed": 7, "scale": 4})
        b = handle({"width": 32, "height": 16, "seed": 7, "scale": 4})
        self.assertEqual((a["width"], a["height"]), (8, 4))
        self.assertEqual(a["checksum"], b["checksum"])
        self.assertNotEqual(a["checksum"], handle({"width": 32, "height": 16, "seed": 8, "scale": 4})["checksum"])

    def test_rejects_bad_input(self):
        with self.assertRaises(ValueError):
            load("thumbnail")({"ppm": base64.b64encode(b"P3 1 1 255\n0 0 0").decode()})


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False, verbosity=1).result.wasSuccessful() else 1)
