"""Turn a synthetic scene layout into Cityscapes polygons, a labelIds map and a photo-like image.

The labelIds map comes from cityscapesscripts itself (`createLabelImage(annotation, "ids")`, what
`json2labelImg` does) and the image is painted per polygon through an object map rasterised the
same way, so image and labels agree pixel for pixel. Textures (noise, tiles, windows, leaves),
overlays, shadows, lighting, blur and sensor noise keep classes from being separable by colour.

    rng = np.random.default_rng(0)
    polygons, image, label_ids = make_frame(rng, height=256, width=512)
"""

from __future__ import annotations

import json
from typing import Any

import cv2
import numpy as np
from cityscapesscripts.helpers.annotation import Annotation
from cityscapesscripts.helpers.labels import name2label
from cityscapesscripts.preparation.json2labelImg import createLabelImage
from PIL import Image, ImageDraw

from hyctas.data.synthetic_scene import Camera, SceneObject
from hyctas.data.synthetic_street import build_scene

GROUND_IDS = [name2label[n].id for n in ("road", "sidewalk", "parking", "terrain", "ground")]
# Relative brightness noise per texture: (fine, fine2, mid, coarse) amplitudes.
AMPLITUDES = {
    "sky": (0.01, 0.0, 0.02, 0.04),
    "road": (0.09, 0.05, 0.05, 0.08),
    "sidewalk": (0.07, 0.03, 0.05, 0.07),
    "terrain": (0.14, 0.12, 0.1, 0.08),
    "vegetation": (0.1, 0.2, 0.12, 0.08),
    "building": (0.04, 0.02, 0.04, 0.07),
    "wall": (0.06, 0.03, 0.08, 0.08),
    "fence": (0.05, 0.03, 0.05, 0.06),
    "pole": (0.05, 0.0, 0.03, 0.06),
    "vehicle": (0.03, 0.0, 0.03, 0.08),
    "person": (0.06, 0.03, 0.06, 0.04),
    "plain": (0.06, 0.02, 0.06, 0.06),
}


def clip_polygon(
    poly: list[tuple[float, float]], x1: float, y1: float, x0: float = 0.0, y0: float = 0.0
) -> list[tuple[float, float]]:
    """Sutherland-Hodgman clip of a polygon to the box [x0, x1] x [y0, y1]."""
    edges = [(0, x0, 1), (0, x1, -1), (1, y0, 1), (1, y1, -1)]  # (axis, bound, inside sign)
    out = list(poly)
    for axis, bound, sign in edges:
        if not out:
            break
        pts, out = out, []
        for i, cur in enumerate(pts):
            prev = pts[i - 1]
            cin, pin = sign * (cur[axis] - bound) >= 0, sign * (prev[axis] - bound) >= 0
            if cin != pin:
                t = (bound - prev[axis]) / (cur[axis] - prev[axis])
                out.append((prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])))
            if cin:
                out.append(cur)
    return out


def to_polygons(objects: list[SceneObject], height: int, width: int) -> tuple[dict, list[int]]:
    """Cityscapes polygon JSON (integer vertices inside the image) and the objects it kept."""
    kept, out = [], []
    for k, obj in enumerate(objects):
        pts = [(round(x), round(y)) for x, y in clip_polygon(obj.polygon, width - 1, height - 1)]
        pts = [p for i, p in enumerate(pts) if p != pts[i - 1]]
        if len(set(pts)) >= 3:
            out.append({"label": obj.label, "polygon": [list(p) for p in pts]})
            kept.append(k)
    return {"imgHeight": height, "imgWidth": width, "objects": out}, kept


def label_ids_from_json(polygons: dict) -> np.ndarray:
    """The labelIds map exactly as cityscapesscripts' json2labelImg(..., "ids") draws it."""
    annotation = Annotation()
    annotation.fromJsonText(json.dumps(polygons))
    return np.asarray(createLabelImage(annotation, "ids"), dtype=np.uint8)


def object_map(polygons: dict) -> np.ndarray:
    """Index (1-based, 0 = none) of the topmost polygon at each pixel, same rasteriser as above."""
    img = Image.new("I", (polygons["imgWidth"], polygons["imgHeight"]), 0)
    draw = ImageDraw.Draw(img)
    for k, obj in enumerate(polygons["objects"]):
        draw.polygon([tuple(p) for p in obj["polygon"]], fill=k + 1)
    return np.asarray(img, dtype=np.int32)


def _noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Smooth value noise with features about `cell` pixels wide, unit standard deviation."""
    gh, gw = h // cell + 3, w // cell + 3
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    if cell > 1:
        grid = cv2.resize(grid, (gw * cell, gh * cell), interpolation=cv2.INTER_CUBIC)
    out = grid[:h, :w]
    return out / (out.std() + 1e-6)


def _plane_uv(cam: Camera, plane: tuple[str, float], xx: np.ndarray, yy: np.ndarray):
    """Metric coordinates (along, height) of pixels on a vertical plane, and pixels per metre."""
    axis, v = plane
    if axis == "x":
        dx = xx - cam.xv
        dx = np.where(np.abs(dx) < 0.5, np.copysign(0.5, v), dx)
        z = np.clip(cam.focal * v / dx, 0.1, 1e4)
        u = z
    else:
        z = np.full_like(xx, v)
        u = (xx - cam.xv) * v / cam.focal
    return u, cam.cam_h - (yy - cam.yh) * z / cam.focal, cam.focal / z


def _stripes(coord: np.ndarray, period: float, lo: float, hi: float) -> np.ndarray:
    f = np.mod(coord / period, 1.0)
    return (f >= lo) & (f < hi)


def _mix(a: np.ndarray, b: Any, mask: np.ndarray, fade: np.ndarray, share: float) -> np.ndarray:
    """Pattern `mask` of colour b over a, faded to the area-weighted average where too small."""
    b = np.broadcast_to(np.asarray(b, np.float32), a.shape)
    sharp = np.where(mask[..., None], b, a)
    flat = a * (1 - share) + b * share
    return sharp * fade[..., None] + flat * (1 - fade[..., None])


def _texture(
    cam: Camera, p: dict[str, Any], xx: np.ndarray, yy: np.ndarray, nz: list[np.ndarray]
) -> np.ndarray:
    """Colour field (h, w, 3) of one object's bounding box before overlays and modulation."""
    kind, rgb = p["tex"], np.asarray(p["rgb"], np.float32)
    col = np.broadcast_to(rgb, (*xx.shape, 3)).astype(np.float32)
    if kind == "sky":
        t = np.clip(yy / max(cam.yh, 1), 0, 1)[..., None]
        col = col * (1 - t) + np.asarray(p["rgb2"], np.float32) * t
        cloud = np.clip(0.6 * nz[3] + 0.4 * nz[2] - (1.6 - 1.5 * p["clouds"]), 0, 1)[..., None]
        col = col * (1 - cloud) + 230 * cloud
    elif kind == "terrain":
        t = np.clip(0.5 + 0.4 * nz[3], 0, 1)[..., None]
        col = col * (1 - t) + np.asarray(p["rgb2"], np.float32) * t
    elif kind == "vegetation":
        light = np.clip(nz[1] - 0.6, 0, 1)[..., None]
        col = col * (1 - 0.5 * light) + np.asarray((160, 170, 90), np.float32) * 0.5 * light
    elif kind == "sidewalk":
        z = cam.focal * cam.cam_h / np.maximum(yy - cam.yh, 0.5)
        x = (xx - cam.xv) * z / cam.focal
        joints = _stripes(x, p["tile"], 0, 0.08) | _stripes(z, p["tile"], 0, 0.08)
        fade = np.clip((p["tile"] * cam.focal / z - 3) / 6, 0, 1)
        col = _mix(col, col * 0.75, joints, fade, 0.16)
    elif kind in ("building", "wall", "fence"):
        u, v, ppm = _plane_uv(cam, p["plane"], xx, yy)
        if kind == "building" and p["win"]:
            sx, fh = p["win_sx"], p["win_fh"]
            glass = np.asarray(p["win_rgb"], np.float32) * (1 + 0.12 * nz[3][..., None])
            win = _stripes(u, sx, 0.5 - p["win_w"] / 2, 0.5 + p["win_w"] / 2)
            win &= _stripes(v, fh, 0.3, 0.3 + p["win_h"]) & (v > fh)
            col = _mix(col, glass, win, np.clip((sx * ppm - 3) / 5, 0, 1), p["win_w"] * p["win_h"])
            ledge = _stripes(v, fh, 0.0, 0.06) & (v > fh)
            col = np.where(ledge[..., None], col * 0.85, col)
            if p["shop"]:
                shop = np.asarray(p["shop_rgb"], np.float32)
                front = (v < fh) & (v > 0.3) & _stripes(u, 2 * sx, 0.1, 0.85)
                col = np.where(((v < fh) & ~front)[..., None], col * 0.8, col)
                col = np.where(front[..., None], shop * (1 + 0.2 * nz[2][..., None]), col)
        elif kind == "wall":
            lines = _stripes(v, 0.5, 0, 0.07) | _stripes(u, 2.0, 0, 0.03)
            col = _mix(col, col * 0.8, lines, np.clip((0.5 * ppm - 3) / 5, 0, 1), 0.08)
        elif kind == "fence":
            gap = ~(_stripes(u, 2.5 * p["bar"], 0, 0.45) | _stripes(v, 0.9, 0, 0.12))
            col = _mix(col, p["gap_rgb"], gap, np.clip((p["bar"] * ppm - 1) / 3, 0, 1), 0.5)
    elif kind == "vehicle":
        t = (yy - yy.min()) / max(float(np.ptp(yy)), 1.0)
        col = col * (1.15 - 0.35 * t)[..., None] + 60 * np.clip(nz[3] - 1.3, 0, 1)[..., None]
    return col


def _paint_objects(
    cam: Camera, objects: list[SceneObject], omap: np.ndarray, nz: list[np.ndarray]
) -> np.ndarray:
    h, w = omap.shape
    img = np.empty((h, w, 3), np.float32)
    img[:] = (60 + 10 * nz[2])[..., None]  # unlabelled background
    for k, obj in enumerate(objects):
        poly = np.asarray(obj.polygon)
        x0, y0 = np.floor(poly.min(0)).astype(int)
        x1, y1 = np.ceil(poly.max(0)).astype(int) + 1
        ys, xs = slice(max(y0, 0), min(y1, h)), slice(max(x0, 0), min(x1, w))
        mask = omap[ys, xs] == k + 1
        if not mask.any():
            continue
        yy, xx = np.mgrid[ys, xs].astype(np.float32)
        crop = [n[ys, xs] for n in nz]
        col = np.ascontiguousarray(_texture(cam, obj.paint, xx, yy, crop))
        for _, pts, rgb in obj.paint.get("overlays", []):
            pts = clip_polygon(pts, xs.stop + 1, ys.stop + 1, xs.start - 1, ys.start - 1)
            if len(pts) >= 3:
                arr = np.round((np.asarray(pts) - (xs.start, ys.start)) * 16).astype(np.int32)
                cv2.fillPoly(col, [arr], tuple(float(c) for c in rgb), cv2.LINE_8, 4)
        amp = AMPLITUDES[obj.paint["tex"]]
        mod = 1 + sum(a * n for a, n in zip(amp, crop, strict=True))
        img[ys, xs][mask] = (col * mod[..., None])[mask]
    return img


def _camera_effects(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Lighting gradient, vignetting, white balance, gamma, blur and sensor noise."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xn, yn = xx / w - 0.5, yy / h - 0.5
    a = rng.uniform(0, 2 * np.pi)
    light = 1 + rng.uniform(0, 0.3) * (np.cos(a) * xn + np.sin(a) * yn)
    light *= 1 - rng.uniform(0, 0.35) * (xn**2 + yn**2)
    gains = rng.uniform(0.88, 1.12, 3) * rng.uniform(0.65, 1.25)
    img = np.clip(img * light[..., None] * gains, 0, 255)
    img = 255 * (img / 255) ** rng.uniform(0.8, 1.25)
    sigma = rng.uniform(0.3, 1.0) * max(w / 512, 0.5)
    img = cv2.GaussianBlur(img, (0, 0), sigma)
    img += rng.normal(0, rng.uniform(1.5, 6), img.shape).astype(np.float32)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def make_frame(
    rng: np.random.Generator, height: int, width: int
) -> tuple[dict, np.ndarray, np.ndarray]:
    """One frame: (Cityscapes polygon JSON dict, RGB uint8 image, labelIds uint8 map)."""
    scene = build_scene(rng, height, width)
    polygons, kept = to_polygons(scene.objects, height, width)
    label_ids = label_ids_from_json(polygons)
    omap = object_map(polygons)
    objects = [scene.objects[k] for k in kept]
    for obj, ann in zip(objects, polygons["objects"], strict=True):
        obj.polygon = [tuple(p) for p in ann["polygon"]]
    s = width / 512
    cells = (1, max(1, round(2 * s)), max(2, round(7 * s)), max(4, round(40 * s)))
    nz = [_noise(rng, height, width, c) for c in cells]
    img = _paint_objects(scene.cam, objects, omap, nz)
    shade = np.ones((height, width), np.float32)
    for poly, factor in scene.shadows:
        pts = clip_polygon(poly, width + 2, height + 2, -2, -2)
        if len(pts) >= 3:
            cv2.fillPoly(
                shade, [np.round(np.asarray(pts) * 16).astype(np.int32)], factor, cv2.LINE_8, 4
            )
    shade = cv2.GaussianBlur(shade, (0, 0), max(1.0, 2 * s))
    ground = np.isin(label_ids, GROUND_IDS)
    img *= np.where(ground, shade, 1.0)[..., None]
    return polygons, _camera_effects(rng, img), label_ids
