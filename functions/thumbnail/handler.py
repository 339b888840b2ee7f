"""thumbnail: a pure-Python image transform: grayscale, 3x3 box blur and downscale of a PPM image.

Request: {"ppm": "<base64 of a binary PPM (P6, maxval 255)>", "scale": 2}
         or {"width": W, "height": H, "seed": S, "scale": 2} to transform a generated test image.
Response: {"pgm": "<base64 of the binary PGM (P5) result>", "width", "height", "mean", "checksum"}
"""
import base64
import hashlib
import random


def parse_ppm(data):
    """Returns (width, height, rgb bytes) of a binary P6 PPM with maxval 255."""
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        fields.append(data[start:pos])
    if fields[0] != b"P6" or int(fields[3]) != 255:
        raise ValueError("only binary PPM (P6) with maxval 255 is supported")
    width, height = int(fields[1]), int(fields[2])
    pixels = data[pos + 1:pos + 1 + width * height * 3]
    if len(pixels) != width * height * 3:
        raise ValueError("truncated PPM")
    return width, height, pixels


def generate_ppm(width, height, seed):
    rng = random.Random(seed)
    pixels = bytes(rng.randrange(256) for _ in range(width * height * 3))
    return b"P6\n%d %d\n255\n" % (width, height) + pixels


def transform(width, height, rgb, scale):
    gray = [(299 * rgb[i] + 587 * rgb[i + 1] + 114 * rgb[i + 2]) // 1000 for i in range(0, len(rgb), 3)]
    blurred = [0] * (width * height)
    for y in range(height):
        for x in range(width):
            total = count = 0
            for dy in (-1, 0, 1):
                yy = y + dy
                if 0 <= yy < height:
                    row = yy * width
                    for dx in (-1, 0, 1):
                        xx = x + dx
                        if 0 <= xx < width:
                            total += gray[row + xx]
                            count += 1
            blurred[y * width + x] = total // count
    out_w, out_h = max(1, width // scale), max(1, height // scale)
    out = bytearray(out_w * out_h)
    for y in range(out_h):
        for x in range(out_w):
            total = count = 0
            for yy in range(y * scale, min(height, (y + 1) * scale)):
                for xx in range(x * scale, min(width, (x + 1) * scale)):
                    total += blurred[yy * width + xx]
                    count += 1
            out[y * out_w + x] = total // count
    return out_w, out_h, bytes(out)


def handle(request):
    scale = int(request.get("scale", 2))
    if scale < 1:
        raise ValueError("scale must be >= 1")
    if "ppm" in request:
        data = base64.b64decode(request["ppm"])
    else:
        data = generate_ppm(int(request.get("width", 64)), int(request.get("height", 64)),
                            request.get("seed", 1))
    width, height, rgb = parse_ppm(data)
    out_w, out_h, pixels = transform(width, height, rgb, scale)
    pgm = b"P5\n%d %d\n255\n" % (out_w, out_h) + pixels
    return {
        "pgm": base64.b64encode(pgm).decode("ascii"),
        "width": out_w,
        "height": out_h,
        "mean": sum(pixels) / len(pixels),
        "checksum": hashlib.sha256(pixels).hexdigest(),
    }
